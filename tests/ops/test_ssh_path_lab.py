"""One SSH path: Ansible and the Fabric tasks read the same connection settings, the
inventory's variables and an OpenSSH client configuration (marker `lab`).

hst-test of the session's lab is reached through a `Host` alias that only an ssh
configuration file knows (HostName, Port, User, IdentityFile, UserKnownHostsFile there,
none in the inventory). A second inventory source names the alias and passes the file with
`-F` in ansible_ssh_common_args, as an operator's jump-host set-up would. Both `ansible`
and the tasks must get through; with a configuration that lacks the alias, both must fail
(the negative control), the tasks with a message rather than a traceback.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from fleetlab import FLEET_LAB
from opskit import ENV, inv

from fleet.paths import CACHE, ROOT, VENV_BIN

pytestmark = pytest.mark.lab

ALIAS = "hst-test-through-alias"
STATE = CACHE / "lab" / FLEET_LAB["CRDS_LAB_NAME"]


def ssh_config(path, with_alias: bool) -> None:
    lines = ["Host *", "    ConnectTimeout 5", ""]
    if with_alias:
        lines = [
            f"Host {ALIAS}",
            f"    HostName 127.0.{FLEET_LAB['CRDS_LAB_BLOCK']}.12",
            "    Port 2222",
            "    User admin",
            f"    IdentityFile {STATE / 'id_ed25519'}",
            f"    UserKnownHostsFile {STATE / 'known_hosts'}",
            "    StrictHostKeyChecking yes",
            "", *lines,
        ]
    path.write_text("\n".join(lines) + "\n")


def alias_inventory(tmp_path, with_alias: bool) -> str:
    config = tmp_path / "ssh_config"
    ssh_config(config, with_alias)
    source = tmp_path / "alias.yml"
    source.write_text(
        "all:\n  hosts:\n    tlhstcrds:\n"
        f"      ansible_host: {ALIAS}\n"
        "      ansible_port: null\n      ansible_user: null\n"
        "      ansible_ssh_private_key_file: null\n"
        f"      ansible_ssh_common_args: -F {config}\n")
    return f"lab,{source}"


def ansible_ping(spec: str) -> subprocess.CompletedProcess:
    argv = [str(VENV_BIN / "ansible"), "tlhstcrds", "-m", "ansible.builtin.ping"]
    for part in spec.split(","):
        argv += ["-i", part if "/" in part else f"inventories/{part}"]
    return subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=120, check=False, stdin=subprocess.DEVNULL)


def test_ansible_and_the_tasks_reach_a_server_through_an_ssh_alias(converged_lab, tmp_path):
    spec = alias_inventory(tmp_path, with_alias=True)
    pong = ansible_ping(spec)
    assert pong.returncode == 0 and '"ping": "pong"' in pong.stdout, pong.stdout + pong.stderr
    [row] = json.loads(inv("status", "--server", "hst-test", "--json", "--inventory",
                           spec).stdout)
    assert row["up"] is True and row["port_mode"] == "normal", row
    listed = inv("backups", "--server", "hst-test", "--inventory", spec)
    assert "hst-test" in listed.stdout, listed.stdout


def test_without_the_alias_both_fail_and_the_task_says_why(converged_lab, tmp_path):
    spec = alias_inventory(tmp_path, with_alias=False)
    pong = ansible_ping(spec)
    assert pong.returncode != 0 and "UNREACHABLE" in pong.stdout, pong.stdout + pong.stderr
    status = inv("status", "--server", "hst-test", "--json", "--inventory", spec)
    [row] = json.loads(status.stdout)
    assert row["up"] is False and row["error"].startswith("unreachable"), row
    assert ALIAS in row["error"], row
    assert "Traceback" not in status.stderr, status.stderr
    listed = inv("backups", "--server", "hst-test", "--inventory", spec, check=False)
    assert listed.returncode != 0 and "Traceback" not in listed.stderr, listed.stderr
    assert ALIAS in listed.stdout + listed.stderr, listed.stdout + listed.stderr
