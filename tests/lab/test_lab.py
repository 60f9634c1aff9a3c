"""The lab's stand-ins, for real: podman containers with systemd and sshd that
Ansible reaches over SSH. Tests run in file order; the last one takes the lab down."""

from __future__ import annotations

import json
import socket
import time

import pytest
from labkit import TEST_LAB, invoke, podman, run, status

from fleet.paths import VENV_BIN

pytestmark = pytest.mark.lab

NAME = TEST_LAB["CRDS_LAB_NAME"]
SERVERS = ["plhstcrds", "tlhstcrds", "dlhstcrds", "pljwcrds", "tljwcrds", "dljwcrds",
           "jwdmsbcrds", "jwdmsccrds"]
STANDINS = sorted([*SERVERS, "crdsdb", "crdsmail"])


def ansible(pattern: str, module: str, args: str | None = None):
    argv = [str(VENV_BIN / "ansible"), "-i", "inventories/lab", pattern, "-m", module]
    if args:
        argv += ["-a", args]
    return run(*argv, check=False)


def test_up_brings_every_standin_up_over_ssh(lab):
    rows = status()
    assert sorted(rows) == STANDINS
    assert {r["state"] for r in rows.values()} == {"running"}
    for host in SERVERS:
        assert rows[host]["url"].startswith("https://127.0.9.")
        assert rows[host]["url"].endswith(":8001/")
    assert rows["crdsdb"]["url"] is None
    assert rows["tlhstcrds"]["name"] == "hst-test"
    assert rows["tlhstcrds"]["ssh"].endswith("-p 2222 admin@127.0.9.12")
    assert rows["tlhstcrds"]["ca"].endswith(f".cache/lab/{NAME}/ca/ca.crt")

    pong = ansible("lab_standins", "ansible.builtin.ping")
    assert pong.returncode == 0, pong.stdout + pong.stderr
    assert pong.stdout.count("SUCCESS") == len(STANDINS)
    # Over SSH to the container's own sshd, as admin, becoming root.
    who = ansible("tlhstcrds", "ansible.builtin.command", "id -un")
    assert "root" in who.stdout
    plain = run(*rows["tlhstcrds"]["ssh"].split(), "-o", "BatchMode=yes", "id -un; hostname")
    assert plain.stdout.split() == ["admin", "tlhstcrds"]


def shell(host: str, script: str):
    """``script`` as root on stand-in ``host``: (its return code, its stdout and stderr)."""
    done = podman("exec", f"{NAME}-{host}", "bash", "-c", script, check=False)
    return done.returncode, done.stdout + done.stderr


def test_standins_share_only_what_the_fleet_shares(lab):
    # Each stand-in reaches the others by inventory hostname.
    done = ansible("tlhstcrds", "ansible.builtin.command", "getent hosts crdsdb crdsmail")
    assert done.returncode == 0 and "crdsdb" in done.stdout and "crdsmail" in done.stdout
    token = f"probe-{time.time_ns()}"
    # Each server has its own tree of the Isilon, and only that one (root included).
    rc, out = shell("plhstcrds", f"echo {token} > /ifs/crds/hst/ops/probe && ls /ifs/crds/hst")
    assert rc == 0 and out.split() == ["ops"], out
    rc, out = shell("dlhstcrds", "ls /ifs/crds/hst; cat /ifs/crds/hst/ops/probe")
    assert rc != 0 and out.split()[0] == "dev" and token not in out, out
    rc, out = shell("pljwcrds", "ls /ifs/crds")
    assert rc == 0 and out.split() == ["jwst"], out  # no HST tree at all on JWST
    # The global cache: written on ops, read-only everywhere else.
    rc, out = shell("plhstcrds", f"echo {token} > /grp/crds/cache/probe")
    assert rc == 0, out
    rc, out = shell("dljwcrds", "cat /grp/crds/cache/probe && touch /grp/crds/cache/x")
    assert rc != 0 and token in out and "Read-only file system" in out, out
    # The backup exchange: each server writes its own folder, reads its observatory's.
    rc, out = shell("plhstcrds", f"echo {token} > /eng/ssb/crds/backups/hst-ops/probe")
    assert rc == 0, out
    rc, out = shell("tlhstcrds", "cat /eng/ssb/crds/backups/hst-ops/probe && "
                    "touch /eng/ssb/crds/backups/hst-test/mine && "
                    "touch /eng/ssb/crds/backups/hst-ops/theirs")
    assert rc != 0 and token in out and "Read-only file system" in out, out
    assert "mine" in shell("tlhstcrds", "ls /eng/ssb/crds/backups/hst-test")[1]
    rc, out = shell("pljwcrds", "ls /eng/ssb/crds/backups")
    assert rc == 0 and "hst-ops" not in out.split() and "jwst-ops" in out.split(), out


def test_second_up_changes_nothing(lab):
    ids = {c["Names"][0]: c["Id"] for c in json.loads(
        podman("ps", "-a", "--filter", f"label=crds.lab={NAME}", "--format", "json").stdout)}
    again = invoke("lab.up")
    assert "nothing changed" in again.stdout
    after = {c["Names"][0]: c["Id"] for c in json.loads(
        podman("ps", "-a", "--filter", f"label=crds.lab={NAME}", "--format", "json").stdout)}
    assert after == ids


def test_stopped_standin_shows_as_stopped_and_up_restarts_it(lab):
    podman("stop", "-t", "5", f"{NAME}-crdsmail")
    rows = status()
    assert rows["crdsmail"]["state"] == "stopped"
    assert {r["state"] for h, r in rows.items() if h != "crdsmail"} == {"running"}
    again = invoke("lab.up")
    assert f"started: {NAME}-crdsmail" in again.stderr
    assert status()["crdsmail"]["state"] == "running"
    assert ansible("crdsmail", "ansible.builtin.ping").returncode == 0


def test_standin_whose_processes_died_behind_podmans_back_is_made_again(lab):
    """After a reboot (or a kill of its processes) podman's record can still say "running":
    it can neither be started nor exec'd into. `lab.up` makes it again, on its volumes."""
    victim = f"{NAME}-dlhstcrds"
    token = f"survives-{time.time_ns()}"
    wrote = ansible("dlhstcrds", "ansible.builtin.copy",
                    f"dest=/ifs/crds/hst/dev/reboot-probe content={token} mode=0644")
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    pids = podman("inspect", victim, "--format", "{{.State.ConmonPid}} {{.State.Pid}}")
    for pid in pids.stdout.split():  # conmon first, so nothing tells podman
        run("kill", "-9", pid)
    time.sleep(1)
    assert status()["dlhstcrds"]["state"] == "running"  # the stale record
    assert podman("exec", victim, "true", check=False).returncode != 0
    again = invoke("lab.up")
    assert f"recreated: {victim}" in again.stderr, again.stderr
    assert ansible("dlhstcrds", "ansible.builtin.ping").returncode == 0
    seen = ansible("dlhstcrds", "ansible.builtin.command", "cat /ifs/crds/hst/dev/reboot-probe")
    assert seen.returncode == 0 and token in seen.stdout, seen.stdout + seen.stderr
    # Negative control: the others were left as they were.
    assert "recreated" not in invoke("lab.up").stderr


def test_standin_made_with_another_volume_layout_is_refused_by_name(lab):
    """A lab made by an older checkout (every HST server on one shared Isilon volume) is
    refused with its containers named and the command that makes it again, before
    anything is changed; once that container is gone, up makes it with its own tree."""
    victim = f"{NAME}-dlhstcrds"
    podman("rm", "-f", "-t", "5", victim)
    podman("create", "--name", victim, "--label", f"crds.lab={NAME}",
           "--label", "crds.lab.host=dlhstcrds", "-v", f"{NAME}-grp:/ifs/crds/hst",
           "localhost/crds-lab-node:latest", "sleep", "1")
    try:
        refused = invoke("lab.up", check=False)
        assert refused.returncode != 0
        assert f"{victim} were made with another volume layout" in refused.stderr
        assert "lab.down --yes && .venv/bin/invoke lab.up" in refused.stderr
    finally:
        podman("rm", "-f", victim)
    assert f"created: {victim}" in invoke("lab.up").stderr
    rc, out = shell("dlhstcrds", "findmnt -n -o TARGET /ifs/crds/hst/dev")
    assert rc == 0 and out.split() == ["/ifs/crds/hst/dev"], out


def test_taken_container_name_and_port_are_refused_by_name(lab):
    victim = f"{NAME}-crdsmail"
    podman("rm", "-f", "-t", "5", victim)
    assert status()["crdsmail"]["state"] == "absent"
    # A container that is not this lab's holds the name.
    podman("create", "--name", victim, "localhost/crds-lab-node:latest", "sleep", "1")
    try:
        refused = invoke("lab.up", check=False)
        assert refused.returncode != 0
        assert f"container name '{victim}' is taken" in refused.stderr
        assert "podman rm" in refused.stderr
    finally:
        podman("rm", "-f", victim)
    # Something else listens on the stand-in's SSH address.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.9.21", 2222))
        sock.listen()
        refused = invoke("lab.up", check=False)
    assert refused.returncode != 0
    assert "port 127.0.9.21:2222 (for crdsmail) is taken by process" in refused.stderr
    assert status()["crdsmail"]["state"] == "absent"  # nothing was created
    # Once freed, up recreates it.
    assert f"created: {victim}" in invoke("lab.up").stderr
    assert ansible("crdsmail", "ansible.builtin.ping").returncode == 0


def test_down_removes_this_lab_and_nothing_else(lab):
    foreign = {
        "container": f"{NAME}-intruder",   # this lab's prefix, but not its label
        "other_lab": "crdsother-tlhstcrds",
        "volume": f"{NAME}-ifs-extra",
        "network": f"{NAME}-net2",
    }
    podman("create", "--name", foreign["container"], "localhost/crds-lab-node:latest", "true")
    podman("create", "--name", foreign["other_lab"], "--label", "crds.lab=crdsother",
           "localhost/crds-lab-node:latest", "true")
    podman("volume", "create", foreign["volume"])
    podman("network", "create", foreign["network"])
    try:
        plan = invoke("lab.down", "--dry-run")
        assert "dry run: nothing removed" in plan.stdout
        assert f"{NAME}-tlhstcrds" in plan.stdout and f"{NAME}-net" in plan.stdout
        for name in foreign.values():
            assert name not in plan.stdout
        unconfirmed = invoke("lab.down", check=False)  # no terminal, no --yes
        assert unconfirmed.returncode != 0 and "--yes" in unconfirmed.stderr
        assert {r["state"] for r in status().values()} == {"running"}

        # One record outlives its processes, as on a machine restored from a snapshot:
        # podman's first `rm -f` of it times out waiting for conmon's exit file.
        stale = f"{NAME}-crdsmail"
        pids = podman("inspect", stale, "--format", "{{.State.ConmonPid}} {{.State.Pid}}")
        for pid in pids.stdout.split():  # conmon first, so nothing tells podman
            run("kill", "-9", pid)
        time.sleep(1)
        assert podman("exec", stale, "true", check=False).returncode != 0
        invoke("lab.down", "--yes")
        assert {r["state"] for r in status().values()} == {"absent"}
        label = f"label=crds.lab={NAME}"
        for kind in (["ps", "-a"], ["volume", "ls"], ["network", "ls"]):
            assert podman(*kind, "--filter", label, "-q").stdout.strip() == ""
        # Negative control: what the lab did not make survives.
        assert podman("container", "exists", foreign["container"], check=False).returncode == 0
        assert podman("container", "exists", foreign["other_lab"], check=False).returncode == 0
        assert podman("volume", "exists", foreign["volume"], check=False).returncode == 0
        assert podman("network", "exists", foreign["network"], check=False).returncode == 0
        assert "nothing to remove" in invoke("lab.down", "--yes").stdout
    finally:
        podman("rm", "-f", foreign["container"], foreign["other_lab"], check=False)
        podman("volume", "rm", foreign["volume"], check=False)
        podman("network", "rm", foreign["network"], check=False)
