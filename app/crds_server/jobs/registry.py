"""What each cron job does, as ``work(logger)`` for :func:`runner.run_job`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from django.conf import settings

from . import JOBS, mail
from .runner import JobFailed, mailto, run_job


def site():
    return settings.SITE


def nightly(log: logging.Logger, *, sha1: bool = True, to: list[str] | None = None) -> dict:
    from . import diagnostics

    cfg = site()
    report = diagnostics.collect(cfg, sha1=sha1)
    text = diagnostics.render(report)
    log.info("%s", diagnostics.subject(report))
    to = mailto() if to is None else to
    mail.send(cfg, to, diagnostics.subject(report), text)
    log.info("diagnostics mailed to %s", ", ".join(to))
    bad = diagnostics.problems(report)
    if bad:
        raise JobFailed("diagnostics found problems: " + "; ".join(bad), mailed=True)
    return report


def monitor_reprocessing(log: logging.Logger, *, datasets: int | None = None) -> dict:
    from . import reprocessing

    return reprocessing.monitor(site(), log,
                                datasets=datasets or reprocessing.DEFAULT_DATASETS)


def clear_expired_locks(log: logging.Logger) -> list[str]:
    from crds_server.jpoll import channels
    from crds_server.locking.models import Lock

    cleared = Lock.clear_expired()
    for lock in cleared:
        log.info("cleared %s", lock)
    log.info("%d expired lock(s) cleared, %d expired status channel(s)", len(cleared),
             channels.clear_expired())
    return cleared


def track_deliveries(log: logging.Logger) -> dict[str, str]:
    from crds_server.submission import deliveries

    changed = deliveries.track()
    for catalog, state in sorted(changed.items()):
        log.info("%s: %s", catalog, state)
    log.info("%d deliveries changed state", len(changed))
    return changed


def sync_ops_to_grp(log: logging.Logger, *, dest: str | None = None) -> dict:
    from . import publish

    cfg = site()
    return publish.publish(cfg, dest or os.environ.get("JOB_GRP_CACHE") or publish.DEFAULT_DEST,
                           log)


def backup(log: logging.Logger) -> dict:
    from . import backup as backup_job

    return backup_job.backup(site(), log)


WORK: dict[str, Callable[..., object]] = {
    "nightly": nightly,
    "monitor_reprocessing": monitor_reprocessing,
    "clear_expired_locks": clear_expired_locks,
    "track_deliveries": track_deliveries,
    "sync_ops_to_grp": sync_ops_to_grp,
    "backup": backup,
}
assert set(WORK) == set(JOBS)  # noqa: S101 - the two lists name the same jobs


def run(job: str, *, echo: bool = False, **options) -> int:
    """Run one job under the lock, logged, mailing on failure; the process exit code."""
    if job not in WORK:
        raise KeyError(f"unknown job {job!r}; jobs: {', '.join(sorted(WORK))}")
    opts = {k: v for k, v in options.items() if v is not None}
    return run_job(site(), job, lambda log: WORK[job](log, **opts), echo=echo)
