"""Shared fixtures: the session's converged lab fleet (tests/fleetlab.py says which), and
the CI rule: under CI=true a skipped test fails the run (a missing dependency must not
pass as green)."""

from __future__ import annotations

import os
import sys
import time

import pytest
from fleetlab import FLEET_LAB, ConvergedLab, fleet_run

from fleet.paths import VENV_BIN


@pytest.fixture(scope="session")
def converged_lab() -> ConvergedLab:
    """Bring the session's lab up and converge the whole fleet with site.yml (fails, never
    skips, when that does not work)."""
    up = fleet_run(VENV_BIN / "invoke", "lab.up", timeout=1800)
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    if os.environ.get("CRDS_TEST_LAB_CONVERGED") == "1":
        # A developer re-running a few tests on a lab converged a moment ago (never in CI:
        # `make test` converges). tests/roles' converge checks refuse this.
        print(f"\nlab {FLEET_LAB['CRDS_LAB_NAME']}: converge skipped "
              "(CRDS_TEST_LAB_CONVERGED=1)", file=sys.stderr)
        return ConvergedLab(None, 0.0)
    start = time.monotonic()
    done = fleet_run(VENV_BIN / "ansible-playbook", "site.yml", "-i", "inventories/lab")
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-3000:]
    print(f"\nlab {FLEET_LAB['CRDS_LAB_NAME']}: site.yml converge {seconds:.0f}s",
          file=sys.stderr)
    return ConvergedLab(done, seconds)


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CI") == "true" and _SKIPPED and exitstatus == 0:
        print(f"\nCI=true: {len(_SKIPPED)} skipped tests fail the run (a skip in CI is a "
              "missing set-up step): " + ", ".join(_SKIPPED[:20]), file=sys.stderr)
        session.exitstatus = 1
