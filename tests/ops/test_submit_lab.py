"""A submission from this machine to a lab server through Apache over TLS, by the real
`crds submit`, with the submitter the converge made from the lab vault (marker `lab`).

hst-test takes a new ACS dark: the catalog, the edit context and a numbered delivery get
it; the real client then syncs the new edit context with --check-sha1sum; `invoke backup`
holds the delivery and its .cat. Put back at the end: hst-test is restored from the backup
taken before.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request

import pytest
import yaml
from astropy.io import fits
from opskit import CA, ENV, LAB, inv, pause_archive, resume_archive, rpc, url

from fleet.inventory import Inventory
from fleet.ops.service import Target
from fleet.paths import ROOT, VENV_BIN

pytestmark = pytest.mark.lab

SERVER, HOST, URL = "hst-test", "tlhstcrds", url(12)
DEV, DEV_HOST = "hst-dev", "dlhstcrds"


def on(script: str, host: str = HOST) -> str:
    done = subprocess.run(["podman", "exec", f"{LAB}-{host}", "sh", "-c", script], env=ENV,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, script + done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def submitter(converged_lab):
    done = subprocess.run([str(VENV_BIN / "ansible-vault"), "view",
                           "inventories/lab/group_vars/all/vault.yml"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, check=True)
    [who] = yaml.safe_load(done.stdout)["vault_crds_secrets"][HOST]["submitters"]
    stamps = {}
    for server in (SERVER, DEV):  # dated backups to come back to (the test makes newer ones)
        inv("backup", "--server", server, "--yes")
        stamps[server] = json.loads(inv("backups", "--server", server, "--json").stdout)[
            "dated"][-1]["stamp"]
    pause_archive(HOST, DEV_HOST)  # the stand-in archive waits until the checks are done
    yield who
    resume_archive(HOST, DEV_HOST)
    for server in (DEV, SERVER):
        inv("restore", "--server", server, "--from", stamps[server], "--yes", timeout=1800)


def test_a_submission_through_apache_reaches_the_catalog_and_the_backup(submitter, tmp_path):
    ctx = __import__("ssl").create_default_context(cafile=str(CA))
    seeded = tmp_path / "seeded.fits"
    with urllib.request.urlopen(f"{URL}/unchecked_get/references/hst/32b1403dj_drk.fits",  # noqa: S310
                                context=ctx, timeout=30) as answer:
        seeded.write_bytes(answer.read())
    ref = tmp_path / "lab_acs_dark.fits"
    with fits.open(seeded) as hdul:
        hdul[0].header["USEAFTER"] = "Jan 01 2026 00:00:00"
        hdul[0].header["HISTORY"] = f"lab submission test {time.time_ns()}"  # new bytes
        hdul.writeto(ref, output_verify="exception")
    before_edit = rpc(URL, "get_default_context", ["hst", "edit"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_SERVER_URL=URL, CRDS_PATH=str(tmp_path / "cache"), CRDS_OBSERVATORY="hst",
               REQUESTS_CA_BUNDLE=str(CA), SSL_CERT_FILE=str(CA),
               MAST_API_TOKEN=submitter["password"])
    done = subprocess.run(
        [str(VENV_BIN / "crds"), "submit", "--files", str(ref), "--username",
         submitter["name"], "--monitor-processing", "--wait-for-completion", "--autoconfirm",
         "--description", "a dark through Apache", "--creator", "lab test"],
        env=env, capture_output=True, text=True, timeout=900, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and " - ERROR - " not in out, out[-4000:]
    assert submitter["password"] not in out
    new_edit = rpc(URL, "get_default_context", ["hst", "edit"])
    assert new_edit != before_edit
    names = rpc(URL, "get_mapping_names", [new_edit])
    assert new_edit in names
    # The delivery on the server: the reference linked to its store copy, the .cat too.
    cats = on("ls /ifs/crds/hst/test/server_files/deliveries/ | grep '\\.cat$'").split()
    assert len(cats) == 1, cats
    listed = on(f"cat /ifs/crds/hst/test/server_files/deliveries/{cats[0]}").split()
    [official] = [n for n in listed if n.endswith(".fits")]
    assert re.match(r"^[0-9a-z]{8}j_drk\.fits$", official)
    inodes = on(f"stat -c %i /ifs/crds/hst/test/server_files/deliveries/{official} "
                f"/ifs/crds/hst/test/file_cache/references/hst/{official}").split()
    assert len(set(inodes)) == 1
    # The real client: the new edit context, every file by sha1.
    sync = subprocess.run(
        [str(VENV_BIN / "crds"), "sync", "--contexts", "hst-edit", "--fetch-references",
         "--check-sha1sum"], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert "0 errors" in sync.stdout + sync.stderr, sync.stdout + sync.stderr
    # The shared latest backup holds the delivery's list, in catalogs/ and deliveries/, and
    # names the delivered reference for relinking (references are never in a backup).
    inv("backup", "--server", SERVER, "--yes")
    latest = "/eng/ssb/crds/backups/hst-test/latest/files"
    assert on(f"cat {latest}/catalogs/{cats[0]}").split() == listed
    assert on(f"cat {latest}/deliveries/{cats[0]}").split() == listed
    assert official in on(f"cat {latest}/deliveries.links").split()
    assert submitter["password"] not in on(f"cat {latest}/../data.sql")
    # A mirror hst-test -> hst-dev carries the delivery: the list, the reference linked to
    # dev's own store copy, the catalog rows with the same sha1s.
    inv("mirror", "--src", SERVER, "--dst", DEV, "--yes", timeout=1800)
    dev_files = "/ifs/crds/hst/dev/server_files"
    assert on(f"cat {dev_files}/deliveries/{cats[0]}", DEV_HOST).split() == listed
    assert on(f"cat {dev_files}/catalogs/{cats[0]}", DEV_HOST).split() == listed
    inodes = on(f"stat -c %i {dev_files}/deliveries/{official} "
                f"/ifs/crds/hst/dev/file_cache/references/hst/{official}", DEV_HOST).split()
    assert len(set(inodes)) == 1
    sums = [rpc(u, "get_file_info_map", ["hst", listed, ["sha1sum"]]) for u in (URL, url(13))]
    assert sums[0] == sums[1] and set(sums[0]) == set(listed)
    # The archive STAND-IN takes the delivery: the list and the files leave deliveries/,
    # the catalogs/ copy stays, and track_deliveries marks the files archived.
    on("systemctl start crds-archive-standin.service")
    assert on("ls /ifs/crds/hst/test/server_files/deliveries/").split() == []
    assert on(f"cat /ifs/crds/hst/test/server_files/catalogs/{cats[0]}").split() == listed
    t = Target(Inventory("lab").server(SERVER), "lab")
    try:
        t.manage(["track_deliveries"])
    finally:
        t.close()
    assert rpc(URL, "get_file_info", ["hst", official])["state"] == "archived"


def _new_dark(tmp_path, useafter: str) -> str:
    ctx = __import__("ssl").create_default_context(cafile=str(CA))
    seeded = tmp_path / "seeded.fits"
    if not seeded.exists():
        with urllib.request.urlopen(f"{URL}/unchecked_get/references/hst/32b1403dj_drk.fits",  # noqa: S310
                                    context=ctx, timeout=30) as answer:
            seeded.write_bytes(answer.read())
    ref = tmp_path / f"lab_fault_{useafter[:3].lower()}.fits"
    with fits.open(seeded) as hdul:
        hdul[0].header["USEAFTER"] = useafter
        hdul[0].header["HISTORY"] = f"lab fault test {time.time_ns()}"
        hdul.writeto(ref, output_verify="exception")
    return str(ref)


def _client_env(tmp_path, submitter) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_SERVER_URL=URL, CRDS_PATH=str(tmp_path / "cache"), CRDS_OBSERVATORY="hst",
               REQUESTS_CA_BUNDLE=str(CA), SSL_CERT_FILE=str(CA),
               MAST_API_TOKEN=submitter["password"], CRDS_USERNAME=submitter["name"])
    return env


def _ready(tmp_path, submitter, ref: str) -> str:
    """A batch submission waiting for confirm: its results URL."""
    done = subprocess.run(
        [str(VENV_BIN / "crds"), "submit", "--files", ref, "--username", submitter["name"],
         "--monitor-processing", "--wait-for-completion", "--wipe-existing-files",
         "--description", "a dark for the fault test", "--creator", "lab test"],
        env=_client_env(tmp_path, submitter), capture_output=True, text=True, timeout=900,
        check=False)
    found = re.findall(r"(https?://\S+/display_result/[0-9a-f-]+)", done.stdout + done.stderr)
    assert done.returncode == 0 and found, done.stdout[-3000:] + done.stderr[-3000:]
    return found[-1]


def _confirm(tmp_path, submitter, ready: str) -> subprocess.Popen:
    """Confirm through the real client's web connection (started, not waited for)."""
    code = ("from crds.submit import web\n"
            f"c = web.CrdsDjangoConnection('acs', {submitter['name']!r}, "
            f"{submitter['password']!r}, {URL!r})\n"
            "c.login()\n"
            f"r = c.repost_confirm_or_cancel({ready!r}, action='confirm')\n"
            "print(r.status_code)\nprint(r.text)\n")
    return subprocess.Popen([str(VENV_BIN / "python"), "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=_client_env(tmp_path, submitter))


def _served() -> dict:
    """What hst-test serves and holds: edit context, store listing, deliveries, catalogs."""
    return {"edit": rpc(URL, "get_default_context", ["hst", "edit"]),
            "store": on("ls /ifs/crds/hst/test/file_cache/references/hst "
                        "/ifs/crds/hst/test/file_cache/mappings/hst | sort | md5sum"),
            "deliveries": on("ls -a /ifs/crds/hst/test/server_files/deliveries"),
            "catalogs": on("ls -a /ifs/crds/hst/test/server_files/catalogs")}


def test_memcached_and_the_database_going_away_in_a_confirm_lose_nothing(submitter, tmp_path):
    # memcached stops before the confirm: the confirm stands, and once memcached is back the
    # server still serves the new edit context (no stale answer cached before it).
    before = _served()
    ready = _ready(tmp_path, submitter, _new_dark(tmp_path, "Feb 01 2026 00:00:00"))
    on("systemctl stop memcached")
    try:
        page = _confirm(tmp_path, submitter, ready).communicate(timeout=300)[0]
        assert page.startswith("200") and "Submission confirmed" in page, page[-2000:]
        moved = rpc(URL, "get_default_context", ["hst", "edit"])
        assert moved != before["edit"]
    finally:
        on("systemctl start memcached")
    for _ in range(3):
        assert rpc(URL, "get_default_context", ["hst", "edit"]) == moved
    # The database goes away in the middle of a confirm: the confirm is held inside its
    # transaction (a lock on the deliveries table, after the files reached the store), the
    # database is killed, and nothing stays: no file in the store, no delivery, no context.
    before = _served()
    ready = _ready(tmp_path, submitter, _new_dark(tmp_path, "Mar 01 2026 00:00:00"))
    holder = subprocess.Popen(
        ["podman", "exec", "-i", f"{LAB}-crdsdb", "mysql", "crds_hst_test"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=ENV)
    holder.stdin.write("LOCK TABLES submission_delivery WRITE; SELECT SLEEP(300);\n")
    holder.stdin.flush()
    confirming = _confirm(tmp_path, submitter, ready)
    try:
        deadline = time.monotonic() + 120
        while "metadata lock" not in on(
                "mysql -N -B -e 'SHOW PROCESSLIST' | grep crds_hst_test || true", "crdsdb"):
            assert time.monotonic() < deadline and confirming.poll() is None, \
                "the confirm never reached the deliveries table"
            time.sleep(0.5)
        on("systemctl kill --signal=SIGKILL mariadb", "crdsdb")
        page = confirming.communicate(timeout=300)[0]
    finally:
        holder.kill()
        on("systemctl restart mariadb", "crdsdb")
    assert "Submission confirmed" not in page, page[-2000:]
    assert "undone" in page or "database" in page.lower(), page[-2000:]
    assert _served() == before
    # The submission is still waiting: once the database is back, the confirm goes through.
    page = _confirm(tmp_path, submitter, ready).communicate(timeout=300)[0]
    assert "Submission confirmed" in page, page[-2000:]
    after = _served()
    assert after["edit"] != before["edit"] and after["deliveries"] != before["deliveries"]
