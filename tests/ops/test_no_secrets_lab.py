"""No secret in what a person sees or keeps (marker `lab`): the lab vault's values (database
passwords, Django secret keys, MariaDB's root password) appear neither in the verbose output
of a converge (-vvv --diff) nor in that of the tasks an operator runs with --verbose, nor
in the servers' logs afterwards.

The negative control proves the search can find them: an ad-hoc `debug` of the variable
prints the secret, and the search sees it there.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from fleetlab import fleet_run
from opskit import ENV, LAB, inv

from fleet.inventory import Inventory
from fleet.ops.service import Target
from fleet.paths import ROOT, VENV_BIN

pytestmark = pytest.mark.lab

SERVER, HOST = "hst-test", "tlhstcrds"


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


@pytest.fixture(scope="module")
def secrets(converged_lab) -> set[str]:
    done = subprocess.run([str(VENV_BIN / "ansible-vault"), "view",
                           "inventories/lab/group_vars/all/vault.yml"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, check=True)
    import yaml

    found = {s for s in strings(yaml.safe_load(done.stdout)) if len(s) >= 12}
    assert len(found) >= 17, "expected a db password and a secret key per server, and root's"
    return found


def leaked(secrets: set[str], text: str) -> list[str]:
    return sorted(f"{s[:3]}...({len(s)} chars)" for s in secrets if s in text)


def test_the_search_finds_a_secret_that_is_printed(secrets):
    shown = fleet_run(VENV_BIN / "ansible", "-i", "inventories/lab", HOST, "-m",
                      "ansible.builtin.debug", "-a", "var=crds_secrets")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert leaked(secrets, shown.stdout), "the negative control found no secret"


def test_a_verbose_converge_shows_no_secret(secrets):
    done = fleet_run(VENV_BIN / "ansible-playbook", "site.yml", "-i", "inventories/lab",
                     "--limit", f"{HOST},crdsdb", "-vvv", "--diff", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "no_log: true" in done.stdout or "censored" in done.stdout  # no_log was in force
    assert not leaked(secrets, done.stdout + done.stderr)


def test_the_tasks_with_verbose_show_no_secret(secrets):
    verbose = ["--verbose"]
    runs = [
        ("status", "--server", SERVER),
        ("check", "--server", SERVER),
        ("backups", "--server", SERVER),
        ("backup", "--server", SERVER, "--yes", *verbose),
        ("restore", "--server", SERVER, "--dry-run", *verbose),
        ("restore", "--server", SERVER, "--yes", *verbose),
        ("backup", "--server", "hst-ops", "--yes", *verbose),
        ("mirror", "--src", "hst-ops", "--dst", "hst-dev", "--dry-run", *verbose),
        ("deploy", "--server", SERVER, "--dry-run", *verbose),
        ("runtests", "--server", SERVER, "--yes", *verbose),
        ("logs", "--server", SERVER, "--name", "error_log"),
        ("cron.mail", "--server", SERVER),
    ]
    found = {}
    for args in runs:
        done = inv(*args, timeout=1200)
        found[" ".join(args)] = leaked(secrets, done.stdout + done.stderr)
    assert not {k: v for k, v in found.items() if v}, found


def test_the_servers_logs_hold_no_secret(secrets):
    patterns = "\n".join(sorted(secrets))
    inventory = Inventory("lab")
    logs = Target(inventory.server(SERVER), inventory.spec).paths.logs
    for host, where in ((HOST, f"/var/log {logs}"), ("crdsdb", "/var/log")):
        # grep -F -f: any of the secrets, in the logs the system and the server keep.
        done = subprocess.run(
            ["podman", "exec", "-i", f"{LAB}-{host}", "sh", "-c",
             f"umask 077; p=$(mktemp); cat > $p; "
             f"grep -rIl -F -f $p {where}; "
             "journalctl --no-pager -q | grep -c -F -f $p; rm -f $p"],
            input=patterns, env=ENV, capture_output=True, text=True, check=False)
        lines = done.stdout.split()
        assert lines and lines[-1] == "0", (host, json.dumps(lines))
        assert lines[:-1] == [], (host, lines)
