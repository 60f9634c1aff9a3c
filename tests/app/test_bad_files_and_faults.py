"""Operations that change or break a server: each test gets its own scratch server."""

from __future__ import annotations

import json
import os

from appkit import Client, count_summary, errors, sha1

from fleet.paths import VENV_BIN

GETRECS = (
    "import crds, sys\n"
    "from crds import data_file\n"
    "h = data_file.get_header(sys.argv[1])\n"
    "print(crds.getrecommendations(h, context=sys.argv[2], observatory='hst'))\n"
)


def test_marked_bad_rmap_fails_rules_and_is_purged(scratch_server, tmp_path):
    srv = scratch_server
    ctx = srv.manifest["operational"]
    dataset = next(p for p in srv.datasets() if p.name.startswith("j"))  # ACS
    rmap = next(n for n in srv.result("get_mapping_names", ctx) if "_acs_" in n and
                n.endswith(".rmap"))
    done = srv.manage("mark_bad", rmap, "--reason", "test")
    assert rmap in done.stdout and ctx in done.stdout  # the context using it is tainted
    info = srv.result("get_server_info")
    assert info["bad_files_list"] == [rmap]
    flags = srv.result("get_file_info_map", "hst", [rmap, ctx], ["blacklisted", "rejected"])
    assert flags[rmap] == {"blacklisted": "true", "rejected": "false"}
    assert flags[ctx]["blacklisted"] == "true"

    client = Client(srv, tmp_path / "cache")
    client.crds("sync", "--contexts", ctx)
    script = [str(VENV_BIN / "python"), "-c", GETRECS, str(dataset), ctx]
    done = client.run(*script, check_rc=False)
    assert done.returncode != 0 and "CrdsBadRulesError" in done.stderr, done.stderr
    done = client.run(*script, env={"CRDS_ALLOW_BAD_RULES": "1"})
    assert "marked as scientifically invalid" in done.stdout + done.stderr
    assert "darkfile" in done.stdout

    cached = client.cache / "mappings" / "hst" / rmap
    assert cached.exists()
    done = client.crds("sync", "--contexts", ctx, "--check-files", "--purge-blacklisted")
    assert not cached.exists()
    audit = srv.manage("shell", "-c", "from crds_server.interactive.models import AuditLog;"
                       "print(AuditLog.objects.filter(action='mark bad').count())")
    assert audit.stdout.strip().splitlines()[-1] == "1"
    # the operational context itself is refused: the documented order is clean context first
    done = srv.manage("mark_bad", ctx, check=False)
    assert done.returncode != 0 and "operational context" in done.stderr


LOCKS = (
    "import datetime\n"
    "from django.utils import timezone\n"
    "from crds_server.locking.models import Lock\n"
    "Lock.objects.create(name='acs', user='u1', "
    "expires=timezone.now() - datetime.timedelta(minutes=1))\n"
    "Lock.objects.create(name='wfc3', user='u2')\n"
)


def test_seed_again_and_locks(scratch_server):
    srv = scratch_server
    history = srv.result("get_context_history", "hst")
    done = srv.manage("seed_demo")
    assert "0 added" in done.stdout
    assert srv.result("get_context_history", "hst") == history
    srv.manage("shell", "-c", LOCKS)
    import requests

    u1 = requests.get(f"{srv.url}/lock_status/u1/", timeout=30).json()
    assert u1 == {"name": "acs", "is_expired": True, "type": "instrument", "user": "u1"}
    done = srv.manage("clear_expired_locks")
    assert "1 expired lock(s) cleared" in done.stdout
    assert requests.get(f"{srv.url}/lock_status/u1/", timeout=30).json()["name"] == ""
    assert requests.get(f"{srv.url}/lock_status/u2/", timeout=30).json()["is_expired"] is False


def test_check_store_ingest_and_downloads(scratch_server, tmp_path):
    srv = scratch_server
    assert srv.manage("check_store").returncode == 0
    again = srv.manage("ingest_cache", str(srv.seed))
    assert "0 added" in again.stdout
    n_files = len(srv.result("get_file_info_map", "hst", None, ["size"]))
    assert f"{n_files} already catalogued" in again.stdout

    # a mapping whose checksum is wrong is refused with a clear message
    bad_tree = tmp_path / "bad" / "mappings" / "hst"
    bad_tree.mkdir(parents=True)
    good = srv.store / "mappings" / "hst" / srv.manifest["operational"]
    (bad_tree / "hst_9999.pmap").write_text(good.read_text().replace("Initial", "Tampered", 1)
                                           + "\n# tampered\n")
    done = srv.manage("ingest_cache", str(tmp_path / "bad"), check=False)
    assert done.returncode != 0 and "sha1sum mismatch" in done.stderr
    assert "crds checksum" in done.stderr
    assert srv.rpc("get_file_info", "hst", "hst_9999.pmap")[1]["error"]

    # damage the store: check_store names each problem and exits non-zero
    ref = sorted(srv.result("get_reference_names", srv.manifest["operational"]))[0]
    path = srv.store / "references" / "hst" / ref
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    (srv.store / "references" / "hst" / "stray_file.fits").write_bytes(b"x")
    done = srv.manage("check_store", "--json", check=False)
    assert done.returncode != 0
    report = json.loads(done.stdout)
    assert report["sha1_mismatch"] == [ref]
    assert report["orphans"] == ["references/hst/stray_file.fits"]
    assert report["missing"] == []


def test_memcached_down_then_database_down(scratch_server, tmp_path):
    srv = scratch_server
    srv.memcached.stop()
    for _ in range(5):
        info = srv.result("get_server_info")
        assert info["operational_context"] == srv.manifest["operational"]
    client = Client(srv, tmp_path / "cache")
    done = client.crds("sync", "--contexts", "hst-latest")
    assert count_summary(done, "errors") == 0 and not errors(done)
    log = (srv.base / "logs" / "crds_server.log").read_text()
    assert log.count("memcached at") == 1, log

    db = srv.base / "crds.sqlite3"
    os.chmod(db, 0)
    os.chmod(db.parent, 0o555)  # noqa: S103 - read-only: no new empty database
    try:
        # srv.rpc's own 60 s timeout fails the test if the server hangs instead of answering
        # (how fast it answers is bench material, not a test's).
        status, answer = srv.rpc("get_default_context", "hst")
    finally:
        os.chmod(db.parent, 0o755)  # noqa: S103
        os.chmod(db, 0o644)
    assert status == 503, answer
    assert answer["result"] is None and "database is unavailable" in answer["error"]["message"]
    # The database is back: the server answers from it again, with the catalog's checksum.
    pmap = srv.manifest["operational"]
    assert srv.result("get_default_context", "hst") == pmap
    catalogued = srv.result("get_file_info_map", "hst", [pmap], ["sha1sum"])[pmap]["sha1sum"]
    assert catalogued == sha1(srv.store / "mappings" / "hst" / pmap)


def test_x_sendfile_downloads():
    """[downloads] x_sendfile = true: Apache's mod_xsendfile sends the file; GET and HEAD."""
    import hashlib
    import shutil

    import requests
    from appkit import Server, instance_base

    from fleet.django_server import ModWsgiServer, prepare

    base = instance_base("xsendfile")
    site = prepare(base, "hst", "hst-xsendfile", x_sendfile=True)
    httpd = ModWsgiServer(site).start()
    try:
        srv = Server("hst", site, httpd)
        ref = sorted(srv.result("get_reference_names", srv.manifest["operational"]))[0]
        info = srv.result("get_file_info_map", "hst", [ref], ["size", "sha1sum"])[ref]
        url = f"{srv.url}/unchecked_get/references/hst/{ref}"
        head = requests.head(url, allow_redirects=False, timeout=30)
        assert head.status_code == 200 and head.headers["content-length"] == info["size"]
        got = requests.get(url, timeout=30)
        assert "x-sendfile" not in {k.lower() for k in got.headers}
        assert hashlib.sha1(got.content).hexdigest() == info["sha1sum"]  # noqa: S324
        # The app itself (no Apache in between) answers the same URL with no bytes at all,
        # only the X-Sendfile header naming the store's file: so the bytes above came from
        # Apache's mod_xsendfile, not from Django.
        code = ("import json; from django.test import Client; "
                f"r = Client().get({url.split(srv.url, 1)[1]!r}, HTTP_HOST='localhost', "
                "secure=True); print(json.dumps([r.status_code, r.get('X-Sendfile'), "
                "len(r.content), r.get('Content-Length')]))")
        status, named, length, declared = json.loads(
            srv.manage("shell", "-c", code).stdout.strip().splitlines()[-1])
        assert status == 200 and length == 0 and declared == info["size"]
        assert named == str(srv.store / "references" / "hst" / ref)
    finally:
        httpd.stop()
        shutil.rmtree(base, ignore_errors=True)
