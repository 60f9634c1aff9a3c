"""Lab acceptance of the roles: site.yml converges the whole lab fleet, every server then
serves the real crds client over HTTPS (verified with the lab CA), and a second site.yml
run changes nothing.

Runs against its own throw-away lab (CRDS_LAB_NAME=crdsroles on 127.0.8.x), so neither a
developer's lab nor the lab tests' lab is touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
LAB = {"CRDS_LAB_NAME": "crdsroles", "CRDS_LAB_BLOCK": "8"}
CA = ROOT / ".cache" / "lab" / LAB["CRDS_LAB_NAME"] / "ca" / "ca.crt"
SERVERS = {  # inventory hostname -> observatory (inventories/hst,jwst)
    "plhstcrds": "hst", "tlhstcrds": "hst", "dlhstcrds": "hst",
    "pljwcrds": "jwst", "tljwcrds": "jwst", "dljwcrds": "jwst",
    "jwdmsbcrds": "jwst", "jwdmsccrds": "jwst",
}

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ, **LAB, **extra)
    e["CONTAINERS_CONF"] = str(ROOT / "lab" / "containers.conf")
    e["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    e["PATH"] = f"{BIN}:{e['PATH']}"
    return e


def run(*argv, timeout=3600, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=ROOT, env=env(**extra), text=True,
                          capture_output=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines -> {host: {ok: n, changed: n, failed: n, ...}}."""
    rows = {}
    for line in output.splitlines():
        m = re.match(r"^(\S+)\s+:\s+(ok=.*)$", line.strip())
        if m:
            rows[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return rows


def site(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = run(BIN / "ansible-playbook", "site.yml", "-i", "inventories/lab", *args)
    return done, time.monotonic() - start


@pytest.fixture(scope="module")
def converged_lab():
    run(BIN / "invoke", "lab.down", "--yes")
    up = run(BIN / "invoke", "lab.up")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        first, seconds = site()
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
        print(f"site.yml converge: {seconds:.0f}s", file=sys.stderr)
        yield first
    finally:
        if not os.environ.get("CRDS_KEEP_LAB"):
            run(BIN / "invoke", "lab.down", "--yes")


@pytest.fixture(scope="module")
def crds_client(tmp_path_factory):
    """The real crds client in its own virtualenv, from the controller's wheel cache."""
    venv = tmp_path_factory.mktemp("crds-client")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    houses = sorted((ROOT / ".cache" / "wheels").glob("crds-*/"))
    assert houses, "no wheelhouse: site.yml builds one"
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--no-index",
           "--find-links", str(houses[-1]), "crds==14.0.3"]
    subprocess.run(pip, check=True)
    return venv / "bin" / "crds"


def standin_address(host: str) -> str:
    octet = yaml.safe_load((ROOT / "inventories/lab/host_vars" / f"{host}.yml").read_text())
    return f"127.0.{LAB['CRDS_LAB_BLOCK']}.{octet['crds_lab_octet']}"


def test_every_host_converged(converged_lab):
    rows = recap(converged_lab.stdout)
    for host in [*SERVERS, "crdsdb", "crdsmail"]:
        assert host in rows, f"{host} missing from the recap"
        assert rows[host]["failed"] == 0 and rows[host]["unreachable"] == 0


@pytest.mark.parametrize("host", sorted(SERVERS))
def test_crds_client_against_each_server(converged_lab, crds_client, host, tmp_path):
    obs = SERVERS[host]
    client_env = {
        "CRDS_SERVER_URL": f"https://{standin_address(host)}:8001",
        "CRDS_PATH": str(tmp_path / "cache"),
        "CRDS_OBSERVATORY": obs,
        "REQUESTS_CA_BUNDLE": str(CA),
        "SSL_CERT_FILE": str(CA),
    }
    status = run(crds_client, "list", "--status", timeout=600, **client_env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert obs in status.stdout
    sync = run(crds_client, "sync", "--contexts", f"{obs}-operational", "--fetch-references",
               "--check-sha1sum", timeout=1800, **client_env)
    out = sync.stdout + sync.stderr
    assert sync.returncode == 0, out
    assert re.search(r"\b0 errors\b", out), out


def test_second_run_changes_nothing(converged_lab):
    second, seconds = site()
    assert second.returncode == 0, second.stdout[-6000:]
    print(f"site.yml second run: {seconds:.0f}s", file=sys.stderr)
    changed = {h: r["changed"] for h, r in recap(second.stdout).items() if r["changed"]}
    assert changed == {}, changed


def test_check_mode_reports_no_change(converged_lab):
    check, _ = site("--check", "--diff")
    assert check.returncode == 0, check.stdout[-6000:]
    changed = {h: r["changed"] for h, r in recap(check.stdout).items() if r["changed"]}
    assert changed == {}, changed
