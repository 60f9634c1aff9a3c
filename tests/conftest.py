"""Shared fixtures: the session's converged lab fleet (tests/fleetlab.py says which), and
the CI rule: under CI=true a skipped test fails the run (a missing dependency must not
pass as green)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fleetlab import FLEET_LAB, SITE_PROFILES, ConvergedLab, fleet_run, site_playbook

from fleet.ops.core import ansible_failure
from fleet.paths import VENV_BIN

# The session's lab stays up between runs (the next one only re-converges), so a session
# that failed or was interrupted must not hand its leftovers (an unfinished restore, rows
# without files) to the next: a marker on a lab volume says a session is running, and only
# a session that passes removes it. A lab found marked is made again from empty volumes.
_MARKER = "/ifs/crds/hst/ops/.crds-test-session-running"  # on hst-ops's own volume
_MARKED: list[str] = []


def _marker(*args: str) -> subprocess.CompletedProcess:
    return fleet_run("podman", "exec", f"{FLEET_LAB['CRDS_LAB_NAME']}-plhstcrds", *args,
                     timeout=60)


def _left_by_a_failed_session() -> bool:
    listed = fleet_run("podman", "ps", "-a", "-q", "--filter",
                       f"label=crds.lab={FLEET_LAB['CRDS_LAB_NAME']}", timeout=60)
    if not listed.stdout.strip():
        return False  # no lab yet
    return _marker("test", "-e", _MARKER).returncode != 1  # marked, or it cannot tell


@pytest.fixture(scope="session")
def converged_lab() -> ConvergedLab:
    """Bring the session's lab up and converge the whole fleet with site.yml (fails, never
    skips, when that does not work)."""
    reuse = os.environ.get("CRDS_TEST_LAB_CONVERGED") == "1"
    if not reuse and _left_by_a_failed_session():
        print(f"\nlab {FLEET_LAB['CRDS_LAB_NAME']}: the last test session on it failed or was "
              "interrupted; making it again from empty volumes", file=sys.stderr)
        down = fleet_run(VENV_BIN / "invoke", "lab.down", "--yes", timeout=900)
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    up = fleet_run(VENV_BIN / "invoke", "lab.up", timeout=1800)
    if up.returncode and "another volume layout" in up.stdout + up.stderr and not reuse:
        # A lab made by an older checkout (one shared Isilon volume per observatory).
        print(f"\nlab {FLEET_LAB['CRDS_LAB_NAME']}: made with an older volume layout; "
              "making it again from empty volumes", file=sys.stderr)
        down = fleet_run(VENV_BIN / "invoke", "lab.down", "--yes", timeout=900)
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
        up = fleet_run(VENV_BIN / "invoke", "lab.up", timeout=1800)
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    if not reuse:
        assert _marker("touch", _MARKER).returncode == 0
        _MARKED.append(_MARKER)
    if reuse:
        # A developer re-running a few tests on a lab converged a moment ago (never in CI:
        # `make test` converges). tests/roles' converge checks refuse this.
        print(f"\nlab {FLEET_LAB['CRDS_LAB_NAME']}: converge skipped "
              "(CRDS_TEST_LAB_CONVERGED=1)", file=sys.stderr)
        return ConvergedLab(None, 0.0)
    done, seconds = site_playbook()
    assert done.returncode == 0, _converge_failure(done)
    print(f"\nlab {FLEET_LAB['CRDS_LAB_NAME']}: site.yml converge {seconds:.0f}s",
          file=sys.stderr)
    return ConvergedLab(done, seconds)


def _converge_failure(done: subprocess.CompletedProcess) -> str:
    """What a failed converge says first: each failing task with its host and message, then
    the failing results in full (a bare tail shows only the recap), then the recap."""
    lines = done.stdout.splitlines()
    fatal = [ln[:3000] for ln in lines if ln.lstrip().startswith(("fatal: [", "failed: ["))]
    recap = lines[next((i for i, ln in enumerate(lines) if ln.startswith("PLAY RECAP")), -12):]
    return "\n".join(["site.yml converge failed:", ansible_failure(done.stdout), "", *fatal[:12],
                      "", *recap, done.stderr[-2000:]])


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _MARKED and exitstatus == 0:
        _marker("rm", "-f", _MARKER)
    if os.environ.get("CI") == "true" and _SKIPPED and exitstatus == 0:
        print(f"\nCI=true: {len(_SKIPPED)} skipped tests fail the run (a skip in CI is a "
              "missing set-up step): " + ", ".join(_SKIPPED[:20]), file=sys.stderr)
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    """Each site.yml run of the session on the lab, with its slowest tasks."""
    for what, seconds, slowest in SITE_PROFILES:
        terminalreporter.write_sep("-", f"{what}: {seconds:.0f}s, slowest tasks")
        for line in slowest:
            terminalreporter.write_line(line)
