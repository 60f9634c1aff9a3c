"""The job runner on a local app instance (SQLite, seeded jwst rules): one run at a time,
logs under the server's logs dir, a failing job exits non-zero."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from smtp_sink import SmtpSink

from fleet.django_server import APP, PYTHON, prepare


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("cronjobs")
    return prepare(base / "jwst-test", "jwst", "jwst-test", use="test")


def job(site: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    clean.update(CRDS_SITE_CONFIG=str(site), MAILTO="", **(env or {}))
    return subprocess.run([str(PYTHON), str(APP / "manage.py"), "cron_job", *args],
                          env=clean, cwd=APP, capture_output=True, text=True, check=False)


def test_second_start_while_running_exits_0_without_running(site):
    logs = site.parent / "logs"
    lock = logs / "locks" / "clear_expired_locks.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:  # a run in progress holds the lock
        fcntl.flock(held, fcntl.LOCK_EX)
        done = job(site, "clear_expired_locks")
    assert done.returncode == 0, done.stderr
    text = (logs / "clear_expired_locks.log").read_text()
    assert "already running" in text
    assert "expired lock(s) cleared" not in text  # it did not run
    done = job(site, "clear_expired_locks")  # lock released: runs
    assert done.returncode == 0, done.stderr
    text = (logs / "clear_expired_locks.log").read_text()
    assert text.count("expired lock(s) cleared") == 1


def test_monitor_records_context_then_no_change_no_mail(site):
    base = site.parent / "monitor_reprocessing"
    done = job(site, "monitor_reprocessing")
    assert done.returncode == 0, done.stderr
    first = (base / "old_context.txt").read_text().strip()
    assert first.startswith("jwst_") and first.endswith(".pmap")
    done = job(site, "monitor_reprocessing")
    assert done.returncode == 0
    log = (site.parent / "logs" / "monitor_reprocessing.log").read_text()
    assert f"operational context unchanged: {first}" in log
    assert "mailed" not in log
    assert not [p for p in base.iterdir() if p.is_dir()]  # no run directory


def test_failing_job_exits_nonzero_and_says_why(site, tmp_path):
    # sync_ops_to_grp into a destination that does not exist: a clear failure
    done = job(site, "sync_ops_to_grp", env={"JOB_GRP_CACHE": str(tmp_path / "nope")})
    assert done.returncode == 1
    log = (site.parent / "logs" / "sync_ops_to_grp.log").read_text()
    assert "does not exist" in log and "FAILED" in log
    # the failure mail was attempted (no MAILTO here: the log says so)
    assert "no recipients" in log


def test_sync_publishes_the_store_atomically(site, tmp_path):
    dest = tmp_path / "grp"
    dest.mkdir()
    done = job(site, "sync_ops_to_grp", env={"JOB_GRP_CACHE": str(dest)})
    assert done.returncode == 0, done.stderr
    store = site.parent / "file_cache"
    for area in ("mappings", "references", "config"):
        src = sorted(p.relative_to(store) for p in (store / area / "jwst").rglob("*")
                     if p.is_file())
        assert src, area
        for rel in src:
            assert (dest / rel).read_bytes() == (store / rel).read_bytes()
    assert not list(dest.rglob(".*.part"))  # no temporary left behind


def test_failed_affected_run_is_mailed_once_then_daily_not_each_retry(site):
    """A failing pair of contexts is retried every run (old_context.txt stays), but mailed
    once, and again only as a daily reminder: not every 5 minutes at 3 a.m."""
    sink = SmtpSink()
    config = site.read_text()
    site.write_text(re.sub(r"(?m)^port = 25$", f"port = {sink.port}", config))
    base = site.parent / "monitor_reprocessing"
    base.mkdir(exist_ok=True)
    old_file, failure = base / "old_context.txt", base / "last_failure.json"
    saved = old_file.read_text() if old_file.exists() else None
    env = {"JOB_AFFECTED_DATASETS_RECIPIENTS": "repro@localhost"}
    try:
        old_file.write_text("jwst_9999.pmap\n")  # a context the rules do not have: FAILED
        runs = [job(site, "monitor_reprocessing", env=env) for _ in range(3)]
        assert [r.returncode for r in runs] == [1, 1, 1], runs[0].stderr
        subjects = [m["Subject"] for m in sink.messages]
        assert len(subjects) == 1 and subjects[0].startswith("FAILED: CRDS jwst test "), subjects
        assert old_file.read_text().strip() == "jwst_9999.pmap"  # still retried
        log = (site.parent / "logs" / "monitor_reprocessing.log").read_text()
        assert log.count("not mailed again before") == 2
        # a day later the same failure is mailed again as a reminder
        state = json.loads(failure.read_text())
        state["mailed"] = (datetime.fromisoformat(state["mailed"])
                           - timedelta(hours=25)).isoformat()
        failure.write_text(json.dumps(state))
        assert job(site, "monitor_reprocessing", env=env).returncode == 1
        assert len(sink.messages) == 2
    finally:
        sink.close()
        site.write_text(config)
        failure.unlink(missing_ok=True)
        if saved is None:
            old_file.unlink(missing_ok=True)
        else:
            old_file.write_text(saved)
