"""monitor_reprocessing: affected datasets when the operational
context changes, mailed to the reprocessing list.

State lives in ``${CRDS}/monitor_reprocessing``: ``old_context.txt`` (the last context
reported), ``last_failure.json`` (a failed run's pair of contexts and when it was mailed:
retried each run, re-mailed once a day), one dated subdirectory per run (log, gzipped ids,
summary) and the archive STAND-IN's dataset database (generated for the server's rules on
first use)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from crds_server.site_config import SiteConfig

from . import mail
from .runner import JobFailed

OLD_CONTEXT = "old_context.txt"
LAST_FAILURE = "last_failure.json"
REMIND_AFTER = timedelta(hours=24)
DEFAULT_DATASETS = 3000


def state_dir(cfg: SiteConfig) -> Path:
    return Path(cfg.paths.crds) / "monitor_reprocessing"


def affected_recipients() -> list[str]:
    """$CRDS_AFFECTED_DATASETS_RECIPIENTS of the .setenv, passed as JOB_... by crds_cron_job
    (the server drops inherited CRDS_* variables)."""
    return mail.recipients(os.environ.get("JOB_AFFECTED_DATASETS_RECIPIENTS", ""))


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def dataset_db(cfg: SiteConfig, cache: Path, log: logging.Logger, count: int) -> Path:
    """The stand-in archive's database for this server's rules, generated when missing."""
    from crds_server.archive import generate_datasets

    path = state_dir(cfg) / f"datasets_{cfg.observatory}.sqlite3"
    if not path.exists():
        log.info("no dataset database yet: generating %d synthetic %s datasets into %s",
                 count, cfg.observatory, path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        summary = generate_datasets(cache, tmp, count,
                                    observatory=cfg.observatory)
        os.replace(tmp, path)
        log.info("generated: %s", json.dumps(summary, default=str)[:400])
    return path


def rules_cache(cfg: SiteConfig) -> Path:
    """A CRDS cache view of the server's store for crds bestrefs and the synthetic
    generator: links to the store's mappings and references and config files, plus what
    the store does not keep and crds needs offline: the seed's server_config and rules
    manifest (seed.json), from seed_demo's cache under server_files/seed/<obs>/."""
    obs, store = cfg.observatory, Path(cfg.paths.file_cache)
    seed = Path(cfg.paths.server_files) / "seed" / obs
    extras = {p.name: p for p in (seed / "config" / obs).glob("*") if p.is_file()}
    if (seed / "seed.json").is_file():
        extras.setdefault("seed.json", seed / "seed.json")
    if "seed.json" not in extras and not (store / "config" / obs / "seed.json").is_file():
        raise JobFailed(f"no rules manifest {seed}/seed.json to generate the stand-in "
                        "archive's datasets from (manage.py seed_demo writes it)")
    view = state_dir(cfg) / "rules_cache"
    shutil.rmtree(view, ignore_errors=True)
    (view / "config" / obs).mkdir(parents=True)
    for area in ("mappings", "references"):
        (view / area).symlink_to(store / area)
    for path in (store / "config" / obs).iterdir():
        (view / "config" / obs / path.name).symlink_to(path)
    for name, path in extras.items():
        if not (view / "config" / obs / name).exists():
            shutil.copy(path, view / "config" / obs / name)
    return view


def operational_context() -> str:
    from crds_server import store

    defaults = store.default_contexts()
    if defaults is None or not defaults.operational:
        raise JobFailed("the server has no operational context (manage.py set_context)")
    return defaults.operational


def monitor(cfg: SiteConfig, log: logging.Logger, *, datasets: int = DEFAULT_DATASETS,
            to: list[str] | None = None, now: datetime | None = None) -> dict:
    """One check; returns what happened: {"changed": bool, ...}."""
    from crds_server.archive import StandInDatasetService
    from crds_server.repro import (
        affected_datasets,
        ids_filename,
        mail_log,
        subject,
        write_ids_gz,
    )

    base = state_dir(cfg)
    base.mkdir(parents=True, exist_ok=True)
    new = operational_context()
    old_file = base / OLD_CONTEXT
    if not old_file.exists():
        write_atomically(old_file, new + "\n")
        log.info("no %s yet: recorded %s as the reference context (nothing to compare)",
                 old_file, new)
        return {"changed": False, "context": new, "initialized": True}
    old = old_file.read_text().strip()
    if old == new:
        log.info("operational context unchanged: %s", new)
        return {"changed": False, "context": new}

    to = affected_recipients() if to is None else to
    if not to:
        raise JobFailed("the context changed but CRDS_AFFECTED_DATASETS_RECIPIENTS is empty; "
                        f"set it in the .setenv, nothing was mailed ({old} --> {new})")
    log.info("operational context changed: %s --> %s; computing affected datasets", old, new)
    cache = rules_cache(cfg)
    db = dataset_db(cfg, cache, log, datasets)
    started = now or datetime.now()
    with StandInDatasetService(db) as service:
        result = affected_datasets(service, old, new, cache=cache,
                                   use=cfg.use, started=started)
    out = base / f"{started:%Y-%m-%d-%H%M%S}_{old}_{new}"
    out.mkdir(parents=True, exist_ok=True)
    log_text = mail_log(result)
    log_name = f"{old}_{new}_affected_datasets.log"
    (out / log_name).write_text(log_text)
    ids_gz = write_ids_gz(result, out / ids_filename(result))
    summary = {"subject": subject(result), **result.summary()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    log.info("%s (results in %s)", summary["subject"], out)

    body = (f"{subject(result)}\n\nAttached: the log of the run and the affected dataset ids "
            f"(gzipped text, one per line).\nServer: {cfg.server}; results: {out}\n")
    failed_file = base / LAST_FAILURE
    if result.disposition == "FAILED":
        # old_context.txt stays, so every run (each 5 minutes) tries again; the same
        # failure is mailed once, then as a reminder each REMIND_AFTER, not each retry.
        last = read_failure(failed_file)
        if last.get("pair") == [old, new] and started - last["mailed"] < REMIND_AFTER:
            log.info("same failure as mailed at %s; not mailed again before %s",
                     last["mailed"], last["mailed"] + REMIND_AFTER)
            raise JobFailed(f"affected datasets {old} --> {new} failed again: "
                            f"{result.failure}", mailed=True)
    attachments = [(log_name, log_text.encode(), "text/plain"),
                   (ids_gz.name, ids_gz.read_bytes(), "application/gzip")]
    mail.send(cfg, to, subject(result), body, attachments)
    log.info("mailed to %s", ", ".join(to))
    if result.disposition == "FAILED":
        write_atomically(failed_file, json.dumps(
            {"pair": [old, new], "mailed": started.isoformat(), "failure": result.failure}))
        raise JobFailed(f"affected datasets {old} --> {new} failed: {result.failure}",
                        mailed=True)
    failed_file.unlink(missing_ok=True)
    write_atomically(old_file, new + "\n")
    return {"changed": True, "old": old, "new": new, "count": result.count,
            "disposition": result.disposition, "dir": str(out)}


def read_failure(path: Path) -> dict:
    """The last mailed failure: {"pair": [old, new], "mailed": datetime}, or {}."""
    try:
        data = json.loads(path.read_text())
        return {"pair": data["pair"], "mailed": datetime.fromisoformat(data["mailed"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
