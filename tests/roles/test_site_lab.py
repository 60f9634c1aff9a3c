"""Lab acceptance of the roles: site.yml converges the whole lab fleet, every server then
serves the real crds client over HTTPS (verified with the lab CA), and a second site.yml
run (one server of each kind) changes nothing, in check mode too.

Runs against the session's converged lab (tests/conftest.py), never a developer's lab.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fleetlab import fleet_run

ROOT = Path(__file__).resolve().parents[2]
SERVERS = {  # inventory hostname -> observatory (inventories/hst,jwst)
    "plhstcrds": "hst", "tlhstcrds": "hst", "dlhstcrds": "hst",
    "pljwcrds": "jwst", "tljwcrds": "jwst", "dljwcrds": "jwst",
    "jwdmsbcrds": "jwst", "jwdmsccrds": "jwst",
}

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines -> {host: {ok: n, changed: n, failed: n, ...}}."""
    rows = {}
    for line in output.splitlines():
        m = re.match(r"^(\S+)\s+:\s+(ok=.*)$", line.strip())
        if m:
            rows[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return rows


@pytest.fixture(scope="module")
def crds_client(tmp_path_factory):
    """The real crds client in its own virtualenv, from the controller's wheel cache (with
    stdatamodels, which the client imports to locate JWST references)."""
    venv = tmp_path_factory.mktemp("crds-client")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    houses = sorted((ROOT / ".cache" / "wheels").glob("crds-*/"))
    assert houses, "no wheelhouse: site.yml builds one"
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--no-index",
           "--find-links", str(houses[-1]), "crds==14.0.3", "stdatamodels"]
    subprocess.run(pip, check=True)
    return venv / "bin" / "crds"


def standin_address(lab, host: str) -> str:
    octet = yaml.safe_load((ROOT / "inventories/lab/host_vars" / f"{host}.yml").read_text())
    return f"127.0.{lab.block}.{octet['crds_lab_octet']}"


def test_every_host_converged(converged_lab):
    assert converged_lab.converge is not None, "unset CRDS_TEST_LAB_CONVERGED (checks the converge)"
    rows = recap(converged_lab.converge.stdout)
    for host in [*SERVERS, "crdsdb", "crdsmail"]:
        assert host in rows, f"{host} missing from the recap"
        assert rows[host]["failed"] == 0 and rows[host]["unreachable"] == 0


@pytest.mark.parametrize("host", sorted(SERVERS))
def test_crds_client_against_each_server(converged_lab, crds_client, host, tmp_path):
    obs = SERVERS[host]
    client_env = {
        "CRDS_SERVER_URL": f"https://{standin_address(converged_lab, host)}:8001",
        "CRDS_PATH": str(tmp_path / "cache"),
        "CRDS_OBSERVATORY": obs,
        "REQUESTS_CA_BUNDLE": str(converged_lab.ca),
        "SSL_CERT_FILE": str(converged_lab.ca),
    }
    status = fleet_run(crds_client, "list", "--status", timeout=600, **client_env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert obs in status.stdout
    sync = fleet_run(crds_client, "sync", "--contexts", f"{obs}-operational", "--fetch-references",
               "--check-sha1sum", timeout=1800, **client_env)
    out = sync.stdout + sync.stderr
    assert sync.returncode == 0, out
    assert re.search(r"\b0 errors\b", out), out


# The servers differ only in variables, so one server per kind (HST ops with the /grp sync,
# JWST dev with its nightly rebuild, a frozen I&T string) plus the site hosts cover every
# task of every role, at half the whole fleet's time: the second run and check mode run on
# these. (The first converge, above, is the whole fleet's.)
ONE_PER_KIND = ["plhstcrds", "dljwcrds", "jwdmsbcrds", "crdsdb", "crdsmail"]


def assert_no_change(done: subprocess.CompletedProcess) -> None:
    """The run passed on exactly ONE_PER_KIND and changed nothing on any of them."""
    assert done.returncode == 0, done.stdout[-6000:]
    rows = recap(done.stdout)
    assert sorted(rows) == sorted(ONE_PER_KIND), rows
    changed = {h: r["changed"] for h, r in rows.items() if r["changed"]}
    assert changed == {}, changed


def test_second_run_changes_nothing(converged_lab):
    second, seconds = converged_lab.site("-l", ",".join(ONE_PER_KIND))
    print(f"site.yml second run: {seconds:.0f}s", file=sys.stderr)
    assert_no_change(second)


def test_check_mode_reports_no_change(converged_lab):
    check, _ = converged_lab.site("--check", "--diff", "-l", ",".join(ONE_PER_KIND))
    assert_no_change(check)
