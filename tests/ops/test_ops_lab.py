"""Backup, restore, mirror and runtests against a converged lab (marker `lab`).

Uses the session's converged lab (tests/conftest.py: crdsci on 127.0.7.x, or the lab
named by CRDS_LAB_NAME/CRDS_LAB_BLOCK), whose servers the converge seeds with the demo rules.
"""

from __future__ import annotations

import json
import os
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
    assert dev.port_mode() == "normal"
    rpc(URL["jwst-dev"], "get_server_info")


def test_mirror_ops_to_dev_syncs_and_dev_serves_the_crds_client(targets, tmp_path):
    ops, dev = targets["jwst-ops"], targets["jwst-dev"]
    inv("backup", "--server", "jwst-ops", "--yes")
    ref = next(n for n in ops.check_store(sha1=False) and rpc(
        URL["jwst-ops"], "get_file_info_map", ["jwst"]) if not n.endswith("map"))
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


def test_killed_mirror_resumes_and_dst_never_answers_on_8001_meanwhile(targets):
    answers, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            try:
                rpc(URL["jwst-dev"], "get_server_info", timeout=2)
                answers.append(time.monotonic())
            except Exception:  # noqa: BLE001,S110 - not answering is what we want
                pass
            time.sleep(0.2)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    proc = subprocess.Popen([str(VENV_BIN / "invoke"), "mirror", "--src", "jwst-ops", "--dst",
                             "jwst-dev", "--yes"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    inconsistent_from = None
    for line in proc.stderr:
        if line.startswith("step 3/"):
            inconsistent_from = time.monotonic()
        if line.startswith("step 5/"):
            proc.kill()
            break
    proc.wait()
    assert inconsistent_from is not None
    assert targets["jwst-dev"].port_mode() == "backup"
    status = json.loads(inv("status", "--server", "jwst-dev", "--json").stdout)[0]
    assert status["unfinished"]["operation"] == "mirror"
    done = inv("mirror", "--src", "jwst-ops", "--dst", "jwst-dev", "--yes")
    back = time.monotonic()
    assert "resuming" in done.stderr
    backup_line = next(x for x in done.stdout.splitlines() if x.strip().startswith("backup:"))
    assert "jwst-ops" in backup_line and "None" not in backup_line, backup_line
    time.sleep(2)
    stop.set()
    poller.join()
    assert not [t for t in answers if inconsistent_from < t < back - 12], answers
    assert targets["jwst-dev"].port_mode() == "normal"
    assert targets["jwst-dev"].check_store(sha1=True)["ok"]


def test_runtests_failure_leaves_the_server_on_its_normal_port(targets):
    done = inv("runtests", "--server", "jwst-dev", "--yes", "--", "no_such_module.Tests",
               check=False)
    assert done.returncode == 1 and "back on its normal port" in done.stderr
    assert targets["jwst-dev"].port_mode() == "normal"
    rpc(URL["jwst-dev"], "get_server_info")
