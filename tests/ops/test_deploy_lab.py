"""`invoke deploy` and `invoke rollback` against the session's converged lab (marker `lab`).

hst-dev gets two app versions that exist only as commits made for the test (git plumbing:
no branch, tag or working-tree change; the objects are unreachable afterwards):
a good one (a new __version__) and a broken one whose get_server_info fails at run time,
so only the health check after the restart can catch it. The test ends with a rollback
to the release the server had before, so the lab is left as the converge made it.
"""

from __future__ import annotations

import json
import subprocess

import opskit
import pytest
from opskit import INIT, commit_with, head_text, rpc, url, with_version

from fleet.inventory import Inventory
from fleet.ops.service import Target

pytestmark = pytest.mark.lab

SERVER = "hst-dev"
URL = url(13)
METHODS = "app/crds_server/jsonapi/methods.py"


def inv(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return opskit.inv(*args, check=check, timeout=1800)  # a deploy may build a release


def status() -> dict:
    return json.loads(inv("status", "--server", SERVER, "--json").stdout)[0]


def server_info() -> dict:
    """What the crds client sees: get_server_info on the normal port, over verified TLS."""
    return rpc(URL, "get_server_info")


@pytest.fixture(scope="module")
def before(converged_lab) -> dict:
    row = status()
    assert row["up"] and row["port_mode"] == "normal", row
    return row


def test_deploy_refuses_an_unknown_version_and_changes_nothing(before):
    done = inv("deploy", "--server", SERVER, "--version", "no-such-version-x", "--yes",
               check=False)
    assert done.returncode == 2
    assert "no version 'no-such-version-x'" in done.stderr and "Nothing was changed" in done.stderr
    assert status()["release"] == before["release"]


def test_deploy_dry_run_prints_the_plan_and_changes_nothing(before):
    done = inv("deploy", "--server", SERVER, "--dry-run")
    assert "plan: deploy on hst-dev" in done.stdout and "rolled back" not in done.stdout
    assert "health check" in done.stdout and "dry run: nothing changed" in done.stdout
    assert status()["release"] == before["release"]


def test_deploy_without_yes_and_without_a_terminal_refuses(before):
    done = inv("deploy", "--server", SERVER, check=False)
    assert done.returncode == 1 and "--yes" in done.stderr
    assert status()["release"] == before["release"]


def test_deploy_a_version_then_a_broken_one_rolls_back_then_rollback(before):
    base = before["version"]
    good, bad = f"{base}.post901", f"{base}.post902"

    # 1. A new version is a new release; the client sees the new version on 8001.
    commit = commit_with({INIT: with_version(good)}, f"test release {good}")
    done = inv("deploy", "--server", SERVER, "--version", commit, "--yes")
    row = status()
    assert row["version"] == good and row["port_mode"] == "normal", row
    assert row["release"] != before["release"] and row["release"].startswith(f"crds-{good}-")
    assert server_info()["server_version"] == good
    assert f"previous {before['release']} kept" in done.stdout

    # 2. A version that migrates and starts but answers errors: the health check fails
    #    and deploy switches back to the good release by itself.
    broken = head_text(METHODS).replace('__import__("crds_server").__version__',
                                        '1 // 0')
    assert broken != head_text(METHODS)
    commit = commit_with({INIT: with_version(bad), METHODS: broken}, f"broken release {bad}")
    done = inv("deploy", "--server", SERVER, "--version", commit, "--yes", check=False)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"rolled back to {row['release']}" in done.stderr
    after_failure = status()
    assert after_failure["release"] == row["release"] and after_failure["version"] == good
    assert after_failure["port_mode"] == "normal"
    assert server_info()["server_version"] == good

    # 3. rollback: back to the release the server had before the test.
    done = inv("rollback", "--server", SERVER, "--yes")
    final = status()
    assert final["release"] == before["release"] and final["version"] == base, final
    assert server_info()["operational_context"] == before["operational_context"]

    # Every step is in the server's operations log (on the server itself).
    t = Target(Inventory("lab").server(SERVER), "lab")
    try:
        log = t.remote.sh(f"tail -n 5 {t.paths.oplog}").stdout
    finally:
        t.close()
    assert f"deploy {commit} FAILED" in log and f"rolled back to {row['release']}" in log
    assert f"rollback {row['release']} -> {before['release']}" in log
