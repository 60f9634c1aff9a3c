"""The operator paths no other test walks, on the session's converged lab (marker `lab`):
run/stop/rerun (Apache and django), rc_script and crds's own sudo, `invoke check` on a
damaged store, memcached down, `check --deploy` on the rendered config, the cron backup
end to end and a restore --from it that re-links a delivery, backup --keep, stack pruning
and the Isilon mount task (check mode).

Servers: hst-dev for the service and store paths, jwst-cit (a frozen I&T server no other
operations test changes) for the backups. Every test puts back what it changed.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from fleetlab import site_playbook
from opskit import CA, ENV, LAB, archive_paused, inv, rpc, url

from fleet.inventory import Inventory
from fleet.ops.service import Target
from fleet.paths import VENV_BIN

pytestmark = pytest.mark.lab

DEV, CIT = "hst-dev", "jwst-cit"
DEV_URL, CIT_URL = url(13), url(18)


@pytest.fixture(scope="module")
def servers(converged_lab):
    inventory = Inventory("lab")
    out = {n: Target(inventory.server(n), inventory.spec) for n in (DEV, CIT)}
    yield out
    for t in out.values():
        t.close()


def on(t: Target, script: str, user: str | None = None, check: bool = True) -> str:
    """A shell command inside the stand-in (podman exec), as root or ``user``."""
    argv = ["podman", "exec", *(["-u", user] if user else []), f"{LAB}-{t.host.hostname}",
            "sh", "-c", script]
    done = subprocess.run(argv, env=ENV, capture_output=True, text=True, check=False)
    if check:
        assert done.returncode == 0, f"{script}: {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


def refused(address: str) -> bool:
    try:
        rpc(address, "get_server_info", timeout=5)
    except urllib.error.URLError as exc:
        return isinstance(exc.reason, ConnectionRefusedError)
    return False


def main_pid(t: Target) -> str:
    return on(t, "systemctl show -p MainPID --value crds-httpd").strip()


# ------------------------------------------------------------------ services


def test_stop_run_rerun_an_apache_server(servers):
    dev = servers[DEV]
    inv("stop", "--server", DEV, "--yes")
    try:
        assert dev.listening() == set() and refused(DEV_URL)
        assert on(dev, "systemctl is-active crds-httpd memcached", check=False).split() == [
            "inactive", "inactive"]
    finally:
        inv("run", "--server", DEV)
    assert dev.listening() == {8001}
    assert rpc(DEV_URL, "get_server_info")["observatory"] == "hst"
    before = main_pid(dev)
    done = inv("rerun", "--server", DEV, "--yes")
    assert "answers (normal port)" in done.stdout
    assert main_pid(dev) not in (before, "0") and dev.listening() == {8001}
    log = on(dev, f"tail -n 3 {dev.paths.oplog}")
    assert "stop: memcached and crds-httpd" in on(dev, f"tail -n 5 {dev.paths.oplog}")
    assert "rerun: memcached and crds-httpd restarted" in log


def test_run_and_stop_the_django_use_case():
    port = 8765
    done = inv("run", "--server", "hst-django", "--port", str(port))
    try:
        assert f"http://localhost:{port}" in done.stdout
        body = json.dumps({"jsonrpc": "1.0", "method": "get_server_info", "params": [], "id": 1})
        req = urllib.request.Request(f"http://127.0.0.1:{port}/json/", data=body.encode())
        with urllib.request.urlopen(req, timeout=30) as answer:  # noqa: S310 - loopback
            info = json.loads(answer.read())["result"]
        assert info["observatory"] == "hst" and info["operational_context"].endswith(".pmap")
    finally:
        stopped = inv("stop", "--server", "hst-django")
    assert "hst-django stopped" in stopped.stdout
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)  # noqa: S310
    assert "was not running" in inv("stop", "--server", "hst-django").stdout


def test_rc_script_and_crds_own_sudo(servers):
    dev = servers[DEV]
    rc = "/home/crds/rc_script"
    assert on(dev, f"{rc} status >/dev/null; echo $?", user="crds").strip() == "0"
    before = main_pid(dev)
    on(dev, f"{rc} restart", user="crds")
    for _ in range(60):
        if dev.listening() == {8001}:
            break
        time.sleep(0.5)
    assert main_pid(dev) != before and dev.listening() == {8001}
    assert rpc(DEV_URL, "get_server_info")["observatory"] == "hst"
    # negative controls: a wrong verb, and anything but its own services through sudo
    assert on(dev, f"{rc} reboot; echo $?", user="crds", check=False).split()[-1] == "2"
    other = on(dev, "sudo -n /bin/systemctl restart ssh 2>&1; echo $?", user="crds",
               check=False)
    assert other.split()[-1] != "0" and "password is required" in other


def test_memcached_down_the_server_still_serves_the_client(servers, tmp_path):
    dev = servers[DEV]
    on(dev, "systemctl stop memcached")
    try:
        assert on(dev, "systemctl is-active memcached", check=False).strip() == "inactive"
        info = rpc(DEV_URL, "get_server_info")
        env = {**ENV, "CRDS_SERVER_URL": DEV_URL, "CRDS_PATH": str(tmp_path),
               "CRDS_OBSERVATORY": "hst", "REQUESTS_CA_BUNDLE": str(CA),
               "SSL_CERT_FILE": str(CA)}
        sync = subprocess.run([str(VENV_BIN / "crds"), "sync", "--contexts",
                               info["operational_context"], "--fetch-references"], env=env,
                              capture_output=True, text=True, check=False, timeout=300)
        assert sync.returncode == 0 and " 0 errors" in sync.stdout + sync.stderr, sync.stderr
    finally:
        on(dev, "systemctl start memcached")
    assert on(dev, "systemctl is-active memcached").strip() == "active"


# ------------------------------------------------------------------ the store


def test_check_finds_each_kind_of_damage_by_name(servers):
    dev = servers[DEV]
    clean = inv("check", "--server", DEV)
    assert "consistent" in clean.stdout
    refs = sorted(n for n in rpc(DEV_URL, "get_file_info_map", ["hst"])
                  if not n.endswith("map"))
    short, changed = refs[0], refs[1]
    cache = f"{dev.paths.file_cache}/references/hst"
    keep = f"{dev.paths.server_dir}/run/check-test"
    on(dev, f"mkdir -p {keep} && cp -p {cache}/{short} {cache}/{changed} {keep}/")
    try:
        on(dev, f"truncate -s 10 {cache}/{short}")
        on(dev, f"printf X | dd of={cache}/{changed} bs=1 seek=0 conv=notrunc status=none")
        stray = f"{cache}/hst_stray_0001.fits"
        on(dev, f"echo stray > {stray} && chown crds {stray}")
        done = inv("check", "--server", DEV, "--json", check=False)
        assert done.returncode == 1
        report = json.loads(done.stdout)
        assert report["size_mismatch"] == [short], report
        assert report["sha1_mismatch"] == [changed], report
        assert report["orphans"] == ["references/hst/hst_stray_0001.fits"], report
        fast = json.loads(inv("check", "--server", DEV, "--no-sha1", "--json",
                              check=False).stdout)
        assert fast["size_mismatch"] == [short] and fast["sha1_mismatch"] == []
    finally:
        on(dev, f"cp -p {keep}/{short} {keep}/{changed} {cache}/ && rm -rf {keep} "
                f"{cache}/hst_stray_0001.fits")
    assert "consistent" in inv("check", "--server", DEV).stdout


def test_check_deploy_on_the_rendered_config(servers):
    dev = servers[DEV]
    done = inv("manage", "--server", DEV, "--", "check", "--deploy", "--fail-level", "WARNING")
    assert "no issues" in done.stdout + done.stderr
    # negative control: the same config with debug on fails the same check
    copy = f"{dev.paths.server_dir}/run/debug_site.toml"
    on(dev, f"sed 's/^debug = false$/debug = true/' {dev.paths.site_config} > {copy} && "
            f"chown crds {copy} && grep -q '^debug = true$' {copy}")
    try:
        bad = on(dev, f"cd {dev.paths.crds} && CRDS_SITE_CONFIG={copy} "
                      f"DJANGO_SETTINGS_MODULE=crds_server.settings {dev.paths.stack}/bin/"
                      "django-admin check --deploy --fail-level WARNING 2>&1; echo rc=$?",
                 user="crds", check=False)
    finally:
        on(dev, f"rm -f {copy}")
    assert "rc=0" not in bad and "security.W018" in bad, bad


# ------------------------------------------------------------------ backups


def catalog(t: Target) -> str:
    code = ("import hashlib; from crds_server.interactive.models import File;"
            "rows=sorted((f.name,f.sha1sum,f.state) for f in File.objects.all());"
            "print(len(rows), hashlib.sha1(repr(rows).encode()).hexdigest())")
    return t.manage(["shell", "-c", code]).stdout.strip()


def dated(name: str) -> list[dict]:
    return json.loads(inv("backups", "--server", name, "--json").stdout)["dated"]


def test_cron_backup_then_restore_from_it_relinks_the_delivery(servers):
    cit = servers[CIT]
    files, cache = cit.paths.server_files, f"{cit.paths.file_cache}/references/jwst"
    ref = sorted(n for n in rpc(CIT_URL, "get_file_info_map", ["jwst"])
                 if not n.endswith("map"))[0]
    delivery, cat = f"{files}/deliveries/{ref}", "crds_test_0001.cat"
    # A delivery as the submission makes it: the reference hard-linked to its cache copy,
    # the numbered .cat list hard-linked to its permanent copy in catalogs/.
    with archive_paused(cit.host.hostname):  # the archive stand-in would take it away
        on(cit, f"echo {ref} > {files}/catalogs/{cat} && ln {files}/catalogs/{cat} "
                f"{files}/deliveries/{cat} && ln {cache}/{ref} {delivery} && "
                f"chown crds:crdsoper {files}/catalogs/{cat} {delivery}")
        try:
            before = catalog(cit)
            stamps = {b["stamp"] for b in dated(CIT)}
            job = inv("cron.run", "--server", CIT, "--job", "backup")
            assert "backup" in job.stderr
            new = [b for b in dated(CIT) if b["stamp"] not in stamps]
            assert len(new) == 1 and new[0]["verified"], new
            stamp = new[0]["stamp"]
            assert new[0]["app_version"] == rpc(CIT_URL, "get_server_info")["server_version"]

            # Still there, so the backup held it (nothing else took it meanwhile).
            on(cit, f"test -f {delivery} && test -f {files}/deliveries/{cat}")
            # What happens after the backup: the delivery is gone, a row is added.
            on(cit, f"rm -f {delivery} {files}/deliveries/{cat}")
            cit.manage(["shell", "-c", "from crds_server.interactive.models import File; "
                        "File.objects.create(name='jwst_added_0001.fits', observatory='jwst', "
                        "type='reference', size=1, sha1sum='0')"])
            assert catalog(cit) != before

            done = inv("restore", "--server", CIT, "--from", stamp, "--yes", "--json")
            report = json.loads(done.stdout[done.stdout.index("\n{") + 1:])
            assert report["backup"]["stamp"] == stamp
            assert catalog(cit) == before
            inode = on(cit, f"stat -c %i {delivery} {cache}/{ref} {files}/deliveries/{cat} "
                            f"{files}/catalogs/{cat}").split()
            assert inode[0] == inode[1], "the delivered reference is not its cache copy"
            assert inode[2] == inode[3], "the delivery's .cat is not its catalogs copy"
            assert cit.listening() == {8001} and cit.check_store(sha1=True)["ok"]
        finally:
            on(cit, f"rm -f {delivery} {files}/deliveries/{cat} {files}/catalogs/{cat}")


def test_backup_keeps_the_last_n(servers):
    made = []
    for _ in range(3):
        time.sleep(1.1)  # stamps have a resolution of one second
        out = inv("backup", "--server", CIT, "--keep", "2", "--yes").stdout
        made.append(re.search(r": backup (\d{8}T\d{6}) ", out).group(1))
    left = [b["stamp"] for b in dated(CIT)]
    assert left == made[-2:], (left, made)


# ------------------------------------------------------------------ the roles


def test_old_stacks_are_pruned_and_the_current_one_kept(servers):
    dev = servers[DEV]
    stacks = dev.paths.stacks
    current = on(dev, f"readlink -f {dev.paths.stack}").strip().rsplit("/", 1)[1]
    saved = on(dev, f"stat -c %Y {stacks}/{current}").strip()
    fakes = [f"crds-0.0.0-prunetest{n}" for n in range(4)]
    on(dev, " && ".join(f"mkdir -p {stacks}/{f} && touch -d '2000-01-0{n + 1}' {stacks}/{f}"
                        for n, f in enumerate(fakes)))
    # the current stack is made the oldest of all: it must be kept anyway
    on(dev, f"touch -d '1999-01-01' {stacks}/{current}")
    try:
        listed = [ln.split() for ln in on(dev, f"stat -c '%Y %n' {stacks}/crds-*").splitlines()]
        mtimes = {n.rsplit("/", 1)[1]: int(t) for t, n in listed}
        done, _ = _converge(dev, "--tags", "stack_build")
        assert done.returncode == 0, done.stdout[-3000:]
        # The role's rule: the newest 3 (stack_build_keep) by mtime when it looks, and the
        # stack of this run, which the converge may have built anew or touched.
        now_current = on(dev, f"readlink -f {dev.paths.stack}").strip().rsplit("/", 1)[1]
        mtimes[now_current] = int(on(dev, f"stat -c %Y {stacks}/{now_current}").strip())
        expected = set(sorted(mtimes, key=lambda n: -mtimes[n])[:3]) | {now_current}
        left = {s for s in on(dev, f"ls {stacks}").split() if s.startswith("crds-")}
        assert left == expected, (left, expected)
        assert set(fakes) - expected, "the test must give the role something to prune"
    finally:
        on(dev, f"rm -rf {' '.join(f'{stacks}/{f}' for f in fakes)}; "
                f"touch -d @{saved} {stacks}/{current}")


def _converge(t: Target, *args: str):
    return site_playbook("-l", t.host.hostname, *args)


def test_isilon_mount_task_in_check_mode(servers):
    """The real fleet mounts the Isilon over NFS; the lab has no NFS server (a kernel nfsd
    cannot run in a stand-in), so the task is proven in check mode with an export set:
    Ansible plans the mount with the export, type and options, and nothing is mounted."""
    dev = servers[DEV]
    done, _ = _converge(dev, "--check", "-v", "--tags", "crds_server", "-e",
                        "crds_server_isilon_export=isilon.lab:/ifs/crds")
    assert done.returncode == 0, done.stdout[-3000:]
    task = done.stdout.split("TASK [crds_server : Mount the server's own tree of the Isilon]",
                             1)[1].split("TASK [", 1)[0]
    assert "changed: [dlhstcrds]" in task, task
    # Only the server's own tree of its observatory and use, never the whole export.
    assert "isilon.lab:/ifs/crds/hst/dev" in task and "/ifs/crds/hst/dev" in task, task
    assert "nfs" in task, task
    assert "nfs" not in on(dev, "findmnt -n -o FSTYPE /ifs/crds/hst/dev || true")


def test_a_restore_that_fails_midway_changes_no_row_and_never_serves(servers):
    """All or nothing: a backup whose rows fail to load at the very end (after every
    DELETE and INSERT before it ran) leaves the database as it was, and the server on its
    backup port; once the backup is mended, the same command resumes and finishes."""
    cit = servers[CIT]
    inv("backup", "--server", CIT, "--yes")
    good = dated(CIT)[-1]["stamp"]
    bad = "19990101T000000"
    root = f"{cit.paths.dated_backups}"
    mend = (f"cd {root}/{bad} && python3 -c \"import hashlib, pathlib; "
            "p = pathlib.Path('MANIFEST.sha1'); lines = [l for l in p.read_text().splitlines() "
            "if not l.endswith('  data.sql')]; d = hashlib.sha1(pathlib.Path('data.sql')"
            ".read_bytes()).hexdigest(); p.write_text(''.join(x + chr(10) for x in lines "
            "+ [d + '  data.sql']))\"")
    breaking = "INSERT INTO no_such_table VALUES (1);"  # the last statement fails
    on(cit, f"cp -a {root}/{good} {root}/{bad} && "
            f"echo '{breaking}' >> {root}/{bad}/data.sql && {mend}")
    try:
        cit.manage(["shell", "-c", "from crds_server.interactive.models import File; "
                    "File.objects.create(name='jwst_added_0002.fits', observatory='jwst', "
                    "type='reference', size=1, sha1sum='0')"])
        changed = catalog(cit)
        failed = inv("restore", "--server", CIT, "--from", bad, "--yes", check=False)
        assert failed.returncode == 1, failed.stdout[-2000:] + failed.stderr[-2000:]
        assert "rolled back (nothing changed)" in failed.stderr, failed.stderr[-2000:]
        assert catalog(cit) == changed, "a half-restored database"
        assert cit.listening() == {8002}, "the inconsistent server answers on 8001"

        on(cit, f"sed -i '/no_such_table/d' {root}/{bad}/data.sql && {mend}")
        done = inv("restore", "--server", CIT, "--from", bad, "--yes")
        assert "resuming the unfinished restore" in done.stderr
        assert "jwst_added_0002.fits" not in cit.manage(
            ["shell", "-c", "from crds_server.interactive.models import File; "
             "print(list(File.objects.values_list('name', flat=True)))"]).stdout
        assert cit.listening() == {8001} and cit.check_store(sha1=True)["ok"]
    finally:
        on(cit, f"rm -rf {root}/{bad}")


def test_restore_a_wrong_stamp_then_the_right_one_then_abort(servers):
    """A mistyped stamp is refused before anything changes, listing the stamps there are;
    a resume with other arguments is refused naming the ones to use; --abort puts the
    server back on 8001 as it was before the interrupted restore (its safety backup)."""
    cit = servers[CIT]
    inv("backup", "--server", CIT, "--yes")
    good = dated(CIT)[-1]["stamp"]
    cit.manage(["shell", "-c", "from crds_server.interactive.models import File; "
                "File.objects.create(name='jwst_added_0003.fits', observatory='jwst', "
                "type='reference', size=1, sha1sum='0')"])
    before = catalog(cit)
    try:
        wrong = inv("restore", "--server", CIT, "--from", "20000101T000000", "--yes",
                    check=False)
        assert wrong.returncode == 2 and "has no backup 20000101T000000" in wrong.stderr
        assert good in wrong.stderr, wrong.stderr  # the stamps there are
        assert cit.listening() == {8001} and catalog(cit) == before
        assert json.loads(inv("status", "--server", CIT, "--json").stdout)[0][
            "unfinished"] is None

        proc = subprocess.Popen([str(VENV_BIN / "invoke"), "restore", "--server", CIT, "--from",
                                 good, "--yes"], env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            if line.startswith("step ") and "put catalogs, deliveries" in line:
                proc.kill()  # its rows are the backup's now; its files not yet
                break
        proc.wait()
        assert cit.listening() == {8002} and catalog(cit) != before

        other = inv("restore", "--server", CIT, "--yes", check=False)
        assert other.returncode == 2, other.stderr
        assert f"invoke restore --server {CIT} --from {good}" in other.stderr, other.stderr
        assert "--abort" in other.stderr and cit.listening() == {8002}

        done = inv("restore", "--server", CIT, "--abort", "--yes")
        assert "aborted" in done.stdout, done.stdout
        assert cit.listening() == {8001} and catalog(cit) == before
        # As it was: the row added (with no file behind it) is the one problem there is.
        store = cit.check_store(sha1=True)
        assert store["missing"] == ["jwst_added_0003.fits"], store
        assert not any(store[k] for k in ("size_mismatch", "sha1_mismatch", "orphans",
                                          "broken_contexts")), store
        assert rpc(CIT_URL, "get_server_info")["observatory"] == "jwst"
    finally:
        cit.manage(["shell", "-c", "from crds_server.interactive.models import File; "
                    "File.objects.filter(name='jwst_added_0003.fits').delete()"])
