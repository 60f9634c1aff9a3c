"""Backup, restore, mirror and runtests against a converged lab (marker `lab`).

Uses the session's converged lab (tests/conftest.py: crdsci on 127.0.7.x, or the lab
named by CRDS_LAB_NAME/CRDS_LAB_BLOCK), whose servers the converge seeds with the demo rules.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

import pytest
from opskit import BLOCK, CA, ENV, LAB, inv, rpc, url

from fleet.inventory import Inventory
from fleet.ops.service import Target
from fleet.paths import ROOT, VENV_BIN

pytestmark = pytest.mark.lab

URL = {"jwst-ops": url(14), "jwst-dev": url(16)}


@pytest.fixture(scope="module")
def targets(converged_lab):
    old = {k: os.environ.get(k) for k in ("CRDS_LAB_NAME", "CRDS_LAB_BLOCK")}
    os.environ.update(CRDS_LAB_NAME=LAB, CRDS_LAB_BLOCK=BLOCK)
    for address in URL.values():  # converged and seeded: both answer
        assert rpc(address, "get_server_info")["operational_context"].startswith("jwst_")
    inventory = Inventory("lab")
    out = {n: Target(inventory.server(n), inventory.spec) for n in URL}
    yield out
    for t in out.values():
        t.close()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def catalog_digest(t: Target) -> str:
    code = ("import hashlib; from crds_server.interactive.models import File, ContextHistory;"
            "rows=sorted((f.name,f.sha1sum,f.state,f.rejected,f.blacklisted) for f in "
            "File.objects.all()); print(len(rows), ContextHistory.objects.count(), "
            "hashlib.sha1(repr(rows).encode()).hexdigest())")
    return t.manage(["shell", "-c", code]).stdout.strip()


def add_file_and_rows(t: Target, name: str) -> None:
    code = (f"from crds_server import store; from crds_server.interactive.models import File;"
            f"p=store.path_of('{name}','reference'); p.write_bytes(b'added after the backup');"
            f"File.objects.create(name='{name}', observatory='jwst', type='reference', "
            f"size=p.stat().st_size, sha1sum=store.sha1sum(p))")
    t.manage(["shell", "-c", code])


def test_backup_then_restore_reverts_rows_and_quarantines_the_added_file(targets):
    dev = targets["jwst-dev"]
    inv("backup", "--server", "jwst-dev", "--yes")
    before = catalog_digest(dev)
    add_file_and_rows(dev, "jwst_test_added_0001.fits")
    assert catalog_digest(dev) != before
    done = inv("restore", "--server", "jwst-dev", "--yes", "--json")
    report = json.loads(done.stdout[done.stdout.index("\n{") + 1:])
    assert catalog_digest(dev) == before
    check = dev.check_store(sha1=True)  # every catalogued file has the catalog's sha1
    assert check["ok"], check
    assert "file_cache/references/jwst/jwst_test_added_0001.fits" in report["quarantined"]
    assert dev.port_mode() == "normal" and dev.listening() == {8001}
    rpc(URL["jwst-dev"], "get_server_info")


def test_mirror_ops_to_dev_syncs_and_dev_serves_the_crds_client(targets, tmp_path):
    ops, dev = targets["jwst-ops"], targets["jwst-dev"]
    inv("backup", "--server", "jwst-ops", "--yes")
    store = ops.check_store(sha1=False)
    assert store["ok"], store  # the source is consistent to begin with
    ref = next(n for n in rpc(URL["jwst-ops"], "get_file_info_map", ["jwst"])
               if not n.endswith("map"))
    dev.agent("remove", file_cache=dev.paths.file_cache, paths=[f"references/jwst/{ref}"])
    done = inv("mirror", "--src", "jwst-ops", "--dst", "jwst-dev", "--yes", "--json")
    report = json.loads(done.stdout[done.stdout.index("\n{") + 1:])
    assert ref in report["synced"]
    info_ops, info_dev = (rpc(URL[n], "get_server_info") for n in ("jwst-ops", "jwst-dev"))
    for key in ("operational_context", "edit_context"):
        assert info_ops[key] == info_dev[key]
    assert rpc(URL["jwst-ops"], "get_file_info_map", ["jwst"]) == rpc(
        URL["jwst-dev"], "get_file_info_map", ["jwst"])
    env = {**ENV, "CRDS_SERVER_URL": URL["jwst-dev"], "CRDS_PATH": str(tmp_path),
           "CRDS_OBSERVATORY": "jwst", "REQUESTS_CA_BUNDLE": str(CA), "SSL_CERT_FILE": str(CA)}
    sync = subprocess.run([str(VENV_BIN / "crds"), "sync", "--contexts",
                           info_dev["operational_context"], "--fetch-references"], env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert sync.returncode == 0 and " 0 errors" in sync.stdout + sync.stderr, sync.stderr[-2000:]


def fingerprint(t: Target) -> tuple:
    return catalog_digest(t), json.dumps(t.check_store(sha1=True), sort_keys=True)


def test_upward_mirror_refused_and_nothing_changed(targets):
    ops, dev = targets["jwst-ops"], targets["jwst-dev"]
    before = fingerprint(ops), fingerprint(dev)
    done = inv("mirror", "--src", "jwst-dev", "--dst", "jwst-ops", "--yes", check=False)
    assert done.returncode == 2 and "downward only" in done.stderr
    assert (fingerprint(ops), fingerprint(dev)) == before
    assert ops.port_mode() == "normal" and dev.port_mode() == "normal"
    assert ops.listening() == {8001} and dev.listening() == {8001}


class Poller:
    """Asks a server's normal port for get_server_info every 0.2 s, over verified TLS.

    Only "nothing answers" counts as down: a refused connection, a timeout, or a
    connection httpd drops while it restarts (reset, closed without a reply). Any other
    failure (a certificate that does not verify, an HTTP error, a reply that is not the
    server's) is recorded and fails the test, so a wrong CA or URL cannot pass as down."""

    def __init__(self, address: str):
        self.address, self.answers, self.errors = address, [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def poll(self):
        while not self.stop.is_set():
            try:
                info = rpc(self.address, "get_server_info", timeout=2)
                if not str(info.get("operational_context", "")).endswith(".pmap"):
                    self.errors.append(f"not a server's answer: {str(info)[:200]}")
                self.answers.append(time.monotonic())
            except Exception as exc:  # noqa: BLE001 - classified below
                if not is_down(exc):
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def is_down(exc: BaseException) -> bool:
    """Nothing answers on that port: refused, timed out, or dropped by a restarting httpd."""
    import http.client
    import socket
    import urllib.error

    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, ConnectionRefusedError | ConnectionResetError | TimeoutError
                      | socket.timeout | http.client.RemoteDisconnected)


def stream(proc: subprocess.Popen, until: int | None = None) -> tuple[dict[str, float], str]:
    """Read a task's step log as it runs: when each "step N/M: title" line appeared (by
    title), and everything it wrote; stops reading at step ``until`` when given."""
    seen: dict[str, float] = {}
    lines = []
    for line in proc.stderr:
        lines.append(line)
        found = re.match(r"step (\d+)/\d+: (.*?)(?: \(done before\))?$", line.rstrip())
        if found:
            seen.setdefault(found.group(2), time.monotonic())
            if until and int(found.group(1)) == until:
                break
    return seen, "".join(lines)


def when(seen: dict[str, float], start_of_title: str) -> float:
    (at,) = [t for title, t in seen.items() if title.startswith(start_of_title)]
    return at


def test_killed_mirror_resumes_and_dst_never_answers_on_8001_meanwhile(targets):
    inv("backup", "--server", "jwst-ops", "--yes")  # its own source backup, no other test's
    invoke = [str(VENV_BIN / "invoke"), "mirror", "--src", "jwst-ops", "--dst", "jwst-dev",
              "--yes"]
    with Poller(URL["jwst-dev"]) as poller:
        time.sleep(1)
        assert poller.answers, f"jwst-dev does not answer before the mirror: {poller.errors}"
        proc = subprocess.Popen(invoke, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        steps, _ = stream(proc, until=5)
        proc.kill()
        proc.wait()
        # dst is inconsistent from the moment it is on the backup port (the step after).
        inconsistent_from = when(steps, "stage the backup")
        assert targets["jwst-dev"].port_mode() == "backup"
        assert targets["jwst-dev"].listening() == {8002}
        status = json.loads(inv("status", "--server", "jwst-dev", "--json").stdout)[0]
        assert status["unfinished"]["operation"] == "mirror"

        proc = subprocess.Popen(invoke, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        resumed, err = stream(proc)
        out = proc.stdout.read()
        proc.wait()
        assert proc.returncode == 0, out[-2000:] + err[-2000:]
        assert "resuming the unfinished mirror" in err, err[-2000:]
        # ... and consistent again once the resumed run starts moving it back to 8001.
        consistent_from = when(resumed, "move jwst-dev back to its normal port")
        time.sleep(3)
    assert poller.errors == [], poller.errors
    assert [t for t in poller.answers if t < inconsistent_from], "no answer before the mirror"
    assert [t for t in poller.answers if t > consistent_from], "no answer after the mirror"
    during = [t for t in poller.answers if inconsistent_from <= t <= consistent_from]
    assert during == [], f"jwst-dev answered on 8001 while inconsistent: {len(during)} times"
    backup_line = next(x for x in out.splitlines() if x.strip().startswith("backup:"))
    assert "jwst-ops" in backup_line and "None" not in backup_line, backup_line
    assert targets["jwst-dev"].port_mode() == "normal"
    assert targets["jwst-dev"].listening() == {8001}
    assert targets["jwst-dev"].check_store(sha1=True)["ok"]


def test_runtests_failure_leaves_the_server_on_its_normal_port(targets):
    done = inv("runtests", "--server", "jwst-dev", "--yes", "--", "no_such_module.Tests",
               check=False)
    assert done.returncode == 1 and "back on its normal port" in done.stderr
    assert targets["jwst-dev"].port_mode() == "normal"
    assert targets["jwst-dev"].listening() == {8001}
    rpc(URL["jwst-dev"], "get_server_info")
