"""Run one cron job: lock, log, exit status, failure mail."""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from crds_server.site_config import SiteConfig

from . import mail
from .lock import AlreadyRunning, job_lock

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
FAILURE_TAIL = 200  # log lines quoted in a failure mail


class JobFailed(Exception):
    """The job failed; its message is the reason."""

    def __init__(self, message: str, *, mailed: bool = False):
        super().__init__(message)
        self.mailed = mailed  # the job already mailed its own (failure) report


def log_path(cfg: SiteConfig, job: str) -> Path:
    return Path(cfg.paths.logs) / f"{job}.log"


def lock_path(cfg: SiteConfig, job: str) -> Path:
    return Path(cfg.paths.logs) / "locks" / f"{job}.lock"


def job_logger(cfg: SiteConfig, job: str, echo: bool = False) -> logging.Logger:
    """crds_server.jobs.<job>, appending to <logs>/<job>.log (and stderr with echo)."""
    logger = logging.getLogger(f"crds_server.jobs.{job}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    path = log_path(cfg, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [logging.FileHandler(path)]
    if echo:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
    return logger


def mailto() -> list[str]:
    """cron passes MAILTO (set in the crontab) in the job's environment."""
    return mail.recipients(os.environ.get("MAILTO", ""))


def run_job(cfg: SiteConfig, job: str, work: Callable[[logging.Logger], object], *,
            echo: bool = False) -> int:
    """Run ``work(logger)`` once, never twice at the same time.

    0: done, or another run holds the lock ("already running" logged).  1: failed; the
    reason and the end of the log are mailed to MAILTO unless the job mailed already."""
    log = job_logger(cfg, job, echo)
    try:
        with job_lock(lock_path(cfg, job)):
            log.info("start (pid %d, server %s)", os.getpid(), cfg.server)
            started = time.monotonic()
            try:
                work(log)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - crds's fatal errors exit
                reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, SystemExit) \
                    else (str(exc) or type(exc).__name__)
                log.error("FAILED after %.1f s: %s", time.monotonic() - started, reason)
                if not isinstance(exc, JobFailed):
                    log.error("%s", traceback.format_exc().rstrip())
                if not getattr(exc, "mailed", False):
                    _mail_failure(cfg, job, reason, log)
                return 1
            log.info("done in %.1f s", time.monotonic() - started)
            return 0
    except AlreadyRunning as exc:
        log.info("already running (%s); this start exits", exc)
        return 0


def _mail_failure(cfg: SiteConfig, job: str, reason: str, log: logging.Logger) -> None:
    to = mailto()
    tail = log_path(cfg, job).read_text(errors="replace").splitlines()[-FAILURE_TAIL:]
    subject = f"FAILED: CRDS {cfg.observatory} {cfg.use} {job} on {cfg.server}"
    body = (f"{subject}\n\nreason: {reason}\nlog: {log_path(cfg, job)}\n\n"
            + "\n".join(tail) + "\n")
    try:
        mail.send(cfg, to, subject, body)
        log.info("failure mailed to %s", ", ".join(to))
    except mail.MailError as exc:
        log.error("%s", exc)
