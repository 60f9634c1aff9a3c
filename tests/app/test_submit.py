"""The write side judged by the real `crds submit` (crds 14.0.3 with its submission extra)
against the app under mod_wsgi: login with an instrument lock, upload, certify, batch
submission with automatic rules, confirm or cancel, and the delivery it leaves.

The references are made with astropy from a seeded one (a new USEAFTER), so crds certify
accepts them; afterwards the real client syncs the new edit context with --check-sha1sum
and its bestrefs selects the new reference for a dataset that matches it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from appkit import Client, Server, instance_base, sha1, start_server
from astropy.io import fits

from fleet.django_server import Memcached, ModWsgiServer, prepare
from fleet.paths import VENV_BIN

USER, PASSWORD = "alice", "correct horse battery staple 1"
OTHER, OTHER_PASSWORD = "bob", "another long password 22"


@pytest.fixture(scope="module")
def hst(tmp_path_factory):
    mc = Memcached().start()
    site = prepare(instance_base("submit"), "hst", "hst-apptest", cache=mc.location)
    with open(site, "a") as config:  # a small upload limit, to be refused
        config.write("\n[submission]\nmax_upload_mb = 50\n")
    srv = Server("hst", site, ModWsgiServer(site, access_log=True).start())
    for name, password in ((USER, PASSWORD), (OTHER, OTHER_PASSWORD)):
        done = srv.manage("submitter", "set", name, "--email", f"{name}@example.invalid",
                          input=password + "\n")
        assert f"{name}: created" in done.stdout, done.stdout + done.stderr
    yield srv
    srv.httpd.stop()
    mc.stop()
    shutil.rmtree(srv.base, ignore_errors=True)


def catalog(srv) -> dict[str, str]:
    done = srv.manage("shell", "-c", "import json; from crds_server.interactive.models import "
                      "File; print(json.dumps(dict(File.objects.values_list('name', 'state'))))")
    return json.loads(done.stdout.strip().splitlines()[-1])


def edit_context(srv) -> str:
    return srv.result("get_default_context", srv.observatory, "edit")


def new_reference(srv, dest, useafter="Jan 01 2025 00:00:00", **cards) -> str:
    """An ACS WFC dark like the seeded ones, with a new USEAFTER (and ``cards``)."""
    seeded = srv.store / "references" / "hst" / "32b1403dj_drk.fits"
    with fits.open(seeded) as hdul:
        hdul[0].header["USEAFTER"] = useafter
        hdul[0].header["DESCRIP"] = "a dark for the submission tests"
        for key, value in cards.items():
            hdul[0].header[key] = value
        hdul.writeto(dest, overwrite=True, output_verify="exception")
    return str(dest)


def submit(srv, cache, *args, user=USER, password=PASSWORD, check=True):
    client = Client(srv, cache, MAST_API_TOKEN=password, CRDS_USERNAME=user)
    done = client.crds("submit", "--username", user, "--creator", "A Tester",
                       "--monitor-processing", "--wait-for-completion", *args,
                       check_rc=False, timeout=600)
    if check:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


def ready_url(done) -> str:
    found = re.findall(r"(https?://\S+/display_result/[0-9a-f-]+)", done.stdout + done.stderr)
    assert found, done.stdout[-3000:] + done.stderr[-3000:]
    return found[-1]


def upload_area(srv, user=USER) -> list[str]:
    root = srv.base / "server_files" / "ingest" / user
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) \
        if root.is_dir() else []


def lock_of(srv, user=USER) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{srv.url}/lock_status/{user}/", timeout=10) as reply:  # noqa: S310
        return json.loads(reply.read())


def test_a_batch_submission_reaches_the_catalog_the_edit_context_and_the_client(
        hst, tmp_path):
    before_edit, before = edit_context(hst), catalog(hst)
    ref = new_reference(hst, tmp_path / "acs_dark_delivery.fits")
    done = submit(hst, tmp_path / "c1", "--files", ref, "--autoconfirm",
                  "--description", "ACS WFC dark for 2025")
    out = done.stdout + done.stderr
    assert " - ERROR - " not in out, out[-4000:]
    assert "COMPLETED:" in out, out[-4000:]
    after = catalog(hst)
    new = sorted(set(after) - set(before))
    # One reference with its official CDBS-style name, an rmap, an imap, a pmap.
    refs = [n for n in new if n.endswith(".fits")]
    assert len(refs) == 1 and re.match(r"^[0-9a-z]{8}j_drk\.fits$", refs[0]), new
    assert sorted(n.rsplit(".", 1)[1] for n in new) == ["fits", "imap", "pmap", "rmap"], new
    assert {after[n] for n in new} == {"delivered"}
    pmap = next(n for n in new if n.endswith(".pmap"))
    assert edit_context(hst) == pmap != before_edit
    assert hst.result("get_default_context", "hst", "operational") != pmap  # only edit moves
    info = hst.result("get_file_info", pmap.replace(".pmap", ".pmap"), refs[0])
    assert info["sha1sum"] == sha1(ref) and info["uploaded_as"] == "acs_dark_delivery.fits"
    assert info["deliverer_user"] == USER and info["creator_name"] == "A Tester"
    # The delivery: each file hard-linked to its store copy, the .cat to catalogs/.
    files = hst.base / "server_files"
    cats = sorted((files / "deliveries").glob("*.cat"))
    assert len(cats) == 1, cats
    listed = cats[0].read_text().split()
    assert sorted(listed) == new
    assert os.path.samefile(cats[0], files / "catalogs" / cats[0].name)
    for name in listed:
        kind = "references" if name.endswith(".fits") else "mappings"
        assert os.path.samefile(files / "deliveries" / name, hst.store / kind / "hst" / name)
    # The upload area is empty again and the lock went with the confirm.
    assert upload_area(hst) == []
    assert lock_of(hst)["name"] == ""
    # The real client: the new edit context, every file checked by sha1.
    client = Client(hst, tmp_path / "sync")
    synced = client.crds("sync", "--contexts", "hst-edit", "--fetch-references",
                         "--check-sha1sum")
    assert "0 errors" in synced.stdout + synced.stderr, synced.stdout + synced.stderr
    [got] = (tmp_path / "sync" / "references").rglob(refs[0])
    assert sha1(got) == sha1(ref)
    # Its bestrefs picks the new dark for a WFC exposure of 2025 and the old one before.
    picked = client.python(
        "import json, crds; h = {'INSTRUME': 'ACS', 'DETECTOR': 'WFC', 'CCDAMP': 'ABCD', "
        "'CCDGAIN': '2.0', 'DARKCORR': 'PERFORM', 'DATE-OBS': '%s', 'TIME-OBS': '00:00:00'}; "
        f"print(json.dumps([crds.getrecommendations(dict(h), reftypes=['darkfile'], "
        f"context='{pmap}', observatory='hst')['darkfile'] for d in [0]]))" % "2025-06-01")
    assert json.loads(picked.stdout.strip().splitlines()[-1]) == [refs[0]]
    old = client.python(
        "import crds; print(crds.getrecommendations({'INSTRUME': 'ACS', 'DETECTOR': 'WFC', "
        "'CCDAMP': 'ABCD', 'CCDGAIN': '2.0', 'DARKCORR': 'PERFORM', 'DATE-OBS': '2020-06-01',"
        f" 'TIME-OBS': '00:00:00'}}, reftypes=['darkfile'], context='{pmap}', "
        "observatory='hst')['darkfile'])")
    assert old.stdout.strip().splitlines()[-1] == "32b1403dj_drk.fits"


def test_a_file_that_fails_certify_adds_nothing_and_keeps_the_upload(hst, tmp_path):
    before, before_edit = catalog(hst), edit_context(hst)
    bad = new_reference(hst, tmp_path / "acs_bad_dark.fits", useafter="Feb 02 2025 00:00:00",
                        CCDGAIN=7.5)
    done = submit(hst, tmp_path / "c2", "--files", bad, "--autoconfirm", "--description",
                  "a dark with a gain ACS does not have", check=False)
    out = done.stdout + done.stderr
    assert done.returncode != 0 or " - ERROR - " in out, out[-3000:]
    assert "CCDGAIN" in out, out[-3000:]  # certify's own message reaches the submitter
    assert catalog(hst) == before and edit_context(hst) == before_edit
    assert upload_area(hst) == ["acs_bad_dark.fits"]  # nothing lost
    wiped = submit(hst, tmp_path / "c3", "--files", bad, "--wipe-existing-files",
                   "--submission-kind", "certify", check=False)
    assert upload_area(hst) == ["acs_bad_dark.fits"], wiped.stdout[-2000:]
    client = Client(hst, tmp_path / "c4", MAST_API_TOKEN=PASSWORD, CRDS_USERNAME=USER)
    client.crds("submit", "--username", USER, "--logout", check_rc=False)
    for name in upload_area(hst):
        (hst.base / "server_files" / "ingest" / USER / name).unlink()


def test_certify_only_changes_nothing(hst, tmp_path):
    before, before_edit = catalog(hst), edit_context(hst)
    ref = new_reference(hst, tmp_path / "acs_dark_certify.fits", useafter="Mar 03 2025 00:00:00")
    done = submit(hst, tmp_path / "c5", "--files", ref, "--submission-kind", "certify",
                  "--description", "certify only")
    assert "COMPLETED:" in done.stdout + done.stderr
    assert catalog(hst) == before and edit_context(hst) == before_edit


def test_a_cancelled_submission_leaves_no_trace(hst, tmp_path):
    before, before_edit = catalog(hst), edit_context(hst)
    cats = sorted((hst.base / "server_files" / "deliveries").glob("*.cat"))
    for name in upload_area(hst):
        (hst.base / "server_files" / "ingest" / USER / name).unlink()
    ref = new_reference(hst, tmp_path / "acs_dark_cancel.fits", useafter="Apr 04 2025 00:00:00")
    done = submit(hst, tmp_path / "c6", "--files", ref, "--description", "to be cancelled")
    url = ready_url(done)
    client = Client(hst, tmp_path / "c7", MAST_API_TOKEN=PASSWORD, CRDS_USERNAME=USER)
    cancel = client.python(
        "from crds.submit import web\n"
        f"c = web.CrdsDjangoConnection('acs', {USER!r}, {PASSWORD!r}, {hst.url!r})\n"
        "c.login()\n"
        f"r = c.repost_confirm_or_cancel({url!r}, action='cancel')\n"
        "print(r.status_code)\n")
    assert cancel.stdout.strip().splitlines()[-1] == "200", cancel.stdout + cancel.stderr
    assert catalog(hst) == before and edit_context(hst) == before_edit
    assert sorted((hst.base / "server_files" / "deliveries").glob("*.cat")) == cats
    assert upload_area(hst) == ["acs_dark_cancel.fits"]  # the upload area as it was
    staged = hst.base / "server_files" / "submissions"
    assert not staged.exists() or list(staged.iterdir()) == []
    (hst.base / "server_files" / "ingest" / USER / "acs_dark_cancel.fits").unlink()


def test_a_lock_held_by_another_is_refused_and_expires(hst, tmp_path):
    login = ("from crds.submit import web\n"
             "c = web.CrdsDjangoConnection('acs', {u!r}, {p!r}, {url!r})\n"
             "c.login()\nprint('logged in')\n")
    alice = Client(hst, tmp_path / "a", MAST_API_TOKEN=PASSWORD)
    held = alice.python(login.format(u=USER, p=PASSWORD, url=hst.url))
    assert "logged in" in held.stdout
    assert lock_of(hst)["name"] == "acs" and lock_of(hst)["is_expired"] is False
    bob = alice.python(login.format(u=OTHER, p=OTHER_PASSWORD, url=hst.url), check_rc=False)
    assert bob.returncode != 0 and "acs is locked by alice" in bob.stdout + bob.stderr
    wrong = alice.python(login.format(u=OTHER, p="not it", url=hst.url), check_rc=False)
    assert wrong.returncode != 0 and "wrong user name or password" in wrong.stdout + wrong.stderr
    # The lock's time runs out (moved into the past: the lifetime is the site config's).
    hst.manage("shell", "-c", "from django.utils import timezone; from crds_server.locking."
               "models import Lock; Lock.objects.filter(user='alice').update("
               "expires=timezone.now())")
    assert lock_of(hst)["is_expired"] is True
    took = alice.python(login.format(u=OTHER, p=OTHER_PASSWORD, url=hst.url))
    assert "logged in" in took.stdout and lock_of(hst, OTHER)["name"] == "acs"
    cleared = hst.manage("clear_expired_locks")
    assert lock_of(hst, OTHER)["name"] == "acs", cleared.stdout  # only expired ones go
    logout = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "python"), "-c", login.format(u=OTHER, p=OTHER_PASSWORD, url=hst.url)
         + "c.logout()\n"], capture_output=True, text=True, check=True)
    assert "logged in" in logout.stdout and lock_of(hst, OTHER)["name"] == ""


@pytest.fixture(scope="module")
def jwst():
    mc = Memcached().start()
    srv = start_server(instance_base("submitj"), "jwst", mc.location)
    srv.manage("submitter", "set", USER, "--email", "a@example.invalid", input=PASSWORD + "\n")
    yield srv
    srv.httpd.stop()
    mc.stop()
    shutil.rmtree(srv.base, ignore_errors=True)


def test_a_jwst_batch_submission_names_the_reference_after_the_catalog(jwst, tmp_path):
    before = catalog(jwst)
    ref = tmp_path / "nircam_gain_delivery.fits"
    with fits.open(jwst.store / "references" / "jwst" / "jwst_nircam_gain_0001.fits") as hdul:
        hdul[0].header["USEAFTER"] = "2025-01-01T00:00:00"
        hdul.writeto(ref, output_verify="exception")
    done = submit(jwst, tmp_path / "j1", "--files", str(ref), "--autoconfirm",
                  "--description", "NIRCam gain for 2025")
    assert "COMPLETED:" in done.stdout + done.stderr
    new = sorted(set(catalog(jwst)) - set(before))
    refs = [n for n in new if n.endswith(".fits")]
    serials = [int(n.rsplit("_", 1)[1].split(".")[0]) for n in before
               if n.startswith("jwst_nircam_gain_") and n.endswith(".fits")]
    assert refs == [f"jwst_nircam_gain_{max(serials) + 1:04d}.fits"], new
    pmap = next(n for n in new if n.endswith(".pmap"))
    assert edit_context(jwst) == pmap
    client = Client(jwst, tmp_path / "jsync")
    synced = client.crds("sync", "--contexts", "jwst-edit", "--fetch-references",
                         "--check-sha1sum")
    assert "0 errors" in synced.stdout + synced.stderr, synced.stdout + synced.stderr
    assert refs[0] in jwst.result("get_reference_names", pmap)
    [got] = (tmp_path / "jsync" / "references").rglob(refs[0])
    assert sha1(got) == sha1(ref)


PHASE = """
import json, re, sys, requests
from crds.submit import web
c = web.CrdsDjangoConnection('acs', {user!r}, {password!r}, {url!r})
if sys.argv[1] == 'start':
    c.login()
    c.upload_file({ref!r})
    c.get('/jpoll/open_channel')
    r = c.repost('/batch_submit_references/', pmap_mode='pmap_edit', pmap_name='',
                 instrument='acs', change_level='SEVERE', creator='t', description='mid',
                 auto_rename=True, compare_old_reference=True)
    rid = re.search(r'name="results_id" value="([0-9a-f-]+)"', r.text).group(1)
    json.dump({{'id': rid, 'cookies': requests.utils.dict_from_cookiejar(c.session.cookies)}},
              open({state!r}, 'w'))
else:
    saved = json.load(open({state!r}))
    c.session.cookies = requests.utils.cookiejar_from_dict(saved['cookies'])
    r = c.session.get({url!r} + '/display_result/' + saved['id'])
    print('LOGGED-OFF' if 'lock expired' in r.text else 'STILL-IN')
"""


def test_a_lock_that_expires_mid_submission_cancels_it_and_keeps_the_upload(hst, tmp_path):
    before, before_edit = catalog(hst), edit_context(hst)
    for name in upload_area(hst):
        (hst.base / "server_files" / "ingest" / USER / name).unlink()
    ref = new_reference(hst, tmp_path / "acs_dark_midway.fits", useafter="May 05 2025 00:00:00")
    script = PHASE.format(user=USER, password=PASSWORD, url=hst.url, ref=ref,
                          state=str(tmp_path / "state.json"))
    client = Client(hst, tmp_path / "m")
    client.python(script.replace("sys.argv[1]", "'start'"))
    rid = json.loads((tmp_path / "state.json").read_text())["id"]
    state = hst.manage("shell", "-c", "from crds_server.submission.models import Submission; "
                       f"print(Submission.objects.get(id='{rid}').state)")
    assert state.stdout.split()[-1] == "ready"
    hst.manage("shell", "-c", "from django.utils import timezone; from crds_server.locking."
               "models import Lock; Lock.objects.filter(user='alice').update("
               "expires=timezone.now())")
    after = client.python(script.replace("sys.argv[1]", "'again'"))
    assert after.stdout.split()[-1] == "LOGGED-OFF", after.stdout
    state = hst.manage("shell", "-c", "from crds_server.submission.models import Submission; "
                       f"print(Submission.objects.get(id='{rid}').state)")
    assert state.stdout.split()[-1] == "cancelled"
    assert catalog(hst) == before and edit_context(hst) == before_edit
    assert upload_area(hst) == ["acs_dark_midway.fits"]
    (hst.base / "server_files" / "ingest" / USER / "acs_dark_midway.fits").unlink()


def test_the_archive_stand_in_takes_a_delivery_to_archived_and_a_broken_one_to_failed(hst):
    """Runs after the batch submission above left one delivery."""
    from crds_server.archive import deliveries_standin

    files = hst.base / "server_files" / "deliveries"
    [cat] = sorted(files.glob("*.cat"))
    delivered = cat.read_text().split()
    state = ("import json; from crds_server.submission.models import Delivery; from "
             "crds_server.interactive.models import File; d = Delivery.objects.get(catalog="
             f"'{cat.name}'); print(json.dumps([d.state, sorted(set(File.objects.filter("
             "name__in=d.files).values_list('state', flat=True)))]))")

    def states():
        return json.loads(hst.manage("shell", "-c", state).stdout.strip().splitlines()[-1])

    assert states() == ["delivered", ["delivered"]]
    # The archive has started: the list renamed _proc.
    os.replace(cat, cat.with_name(cat.name + "_proc"))
    hst.manage("track_deliveries")
    assert states() == ["archiving", ["archiving"]]
    os.replace(cat.with_name(cat.name + "_proc"), cat)
    # The stand-in archives it: files and list gone; the catalogs/ copy stays.
    assert deliveries_standin.run(files) == [f"{cat.name}: archived ({len(delivered)} files)"]
    assert list(files.iterdir()) == []
    assert (hst.base / "server_files" / "catalogs" / cat.name).read_text().split() == delivered
    hst.manage("track_deliveries")
    assert states() == ["archived", ["archived"]]
    import urllib.request

    with urllib.request.urlopen(f"{hst.url}/delivery_status/", timeout=10) as page:  # noqa: S310
        html = page.read().decode()
    assert re.search(rf"<td>{re.escape(cat.name)}</td><td>archived</td><td>{USER}</td>", html)
    # A delivery with a file gone: archiving-failed, the files left for the operators.
    (files / "opus_x_h.cat").write_text("missing_file.fits\n")
    assert deliveries_standin.run(files) == [
        "opus_x_h.cat: archiving-failed (missing missing_file.fits)"]
    assert [p.name for p in files.iterdir()] == ["opus_x_h.cat_proc_err"]
    (files / "opus_x_h.cat_proc_err").unlink()


PLAIN = """
import json, re
from crds.submit import web
c = web.CrdsDjangoConnection('acs', {user!r}, {password!r}, {url!r})
c.login()
c.upload_file({path!r})
c.get('/jpoll/open_channel')
r = c.repost({page!r}, pmap_mode='pmap_edit', pmap_name='', instrument='acs',
             change_level='SEVERE', creator='t', description='plain', auto_rename=True,
             compare_old_reference=True)
rid = re.search(r'name="results_id" value="([0-9a-f-]+)"', r.text).group(1)
c.repost_confirm_or_cancel({url!r} + '/display_result/' + rid, action='confirm')
c.logout()
print('done')
"""


def test_submit_references_and_mappings_without_automatic_rules(hst, tmp_path):
    from crds.refactoring import checksum

    before, before_edit = catalog(hst), edit_context(hst)
    for name in upload_area(hst):
        (hst.base / "server_files" / "ingest" / USER / name).unlink()
    client = Client(hst, tmp_path / "p")
    ref = new_reference(hst, tmp_path / "acs_plain_dark.fits", useafter="Jun 06 2025 00:00:00")
    client.python(PLAIN.format(user=USER, password=PASSWORD, url=hst.url, path=ref,
                               page="/submit/reference/"))
    added = sorted(set(catalog(hst)) - set(before))
    assert len(added) == 1 and added[0].endswith("j_drk.fits"), added
    assert edit_context(hst) == before_edit  # no rules were generated
    # A hand-made rmap: the current ACS dark rules under a new name.
    rmaps = sorted(n for n in catalog(hst) if n.startswith("hst_acs_darkfile_"))
    text = (hst.store / "mappings" / "hst" / rmaps[-1]).read_text()
    rmap = tmp_path / "hst_acs_darkfile_0777.rmap"
    rmap.write_text(text.replace(f"'name' : '{rmaps[-1]}'", f"'name' : '{rmap.name}'"))
    checksum.update_checksum(str(rmap))
    client.python(PLAIN.format(user=USER, password=PASSWORD, url=hst.url, path=str(rmap),
                               page="/submit/mapping/"))
    assert sorted(set(catalog(hst)) - set(before)) == sorted([*added, rmap.name])
    assert edit_context(hst) == before_edit
    assert upload_area(hst) == []


BAD_INPUT = """
import io, json, requests
from crds.submit import web
c = web.CrdsDjangoConnection('acs', {user!r}, {password!r}, {url!r})
c.login()
out = {{}}
token = c.session.get({url!r} + '/upload/chunked/').cookies['csrftoken']
def post(name, data, rng=None):
    r = c.session.post({url!r} + '/upload/chunked/', files={{'files': (name, io.BytesIO(data))}},
                       data={{'csrfmiddlewaretoken': token}},
                       headers={{'Content-Range': rng}} if rng else {{}})
    return [r.status_code, r.json().get('error', '')]
out['dots'] = post('a..b.fits', b'x' * 10)
out['hidden'] = post('.hidden.fits', b'x' * 10)
out['too_big'] = post('big.fits', b'x' * 1000, 'bytes 0-999/%d' % (60 * 1024 * 1024))
out['gap'] = post('gap.fits', b'x' * 1000, 'bytes 5000-5999/10000')
out['list'] = [f['name'] for f in c.session.get({url!r} + '/upload/list/').json()['files']]
print(json.dumps(out))
"""


def test_uploads_refuse_bad_names_sizes_and_chunks_by_name(hst, tmp_path):
    for name in upload_area(hst):
        (hst.base / "server_files" / "ingest" / USER / name).unlink()
    client = Client(hst, tmp_path / "b")
    done = client.python(BAD_INPUT.format(user=USER, password=PASSWORD, url=hst.url))
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["dots"][0] == 400 and "no path, no '..'" in out["dots"][1], out
    assert out["hidden"][0] == 400 and "not starting with a dot" in out["hidden"][1], out
    assert out["too_big"][0] == 400 and "this server takes files up to" in out["too_big"][1]
    assert out["gap"][0] == 400 and "does not follow the 0 bytes received" in out["gap"][1]
    assert out["list"] == [] and upload_area(hst) == []  # nothing half-written stays listed
    area = hst.base / "server_files" / "ingest" / USER
    assert [p.name for p in area.iterdir()] == [], list(area.iterdir())


def test_a_copy_of_a_catalogued_file_is_refused_by_name(hst, tmp_path):
    before = catalog(hst)
    twin = tmp_path / "renamed_copy_drk.fits"
    shutil.copyfile(hst.store / "references" / "hst" / "32b1403dj_drk.fits", twin)
    done = submit(hst, tmp_path / "d", "--files", str(twin), "--autoconfirm",
                  "--description", "a copy", check=False)
    out = done.stdout + done.stderr
    assert "renamed_copy_drk.fits: the same bytes are already catalogued as " \
           "32b1403dj_drk.fits" in out, out[-3000:]
    assert catalog(hst) == before
    for name in upload_area(hst):
        (hst.base / "server_files" / "ingest" / USER / name).unlink()


REDCAT = {  # every required field of the ReDCaT form, as a reference team fills it in
    "deliverer": "A Tester", "other_email": "team-lead@example.invalid", "instrument": "acs",
    "file_type": "dark", "useafter_matches": "N/A", "compliance_verified": "Yes",
    "calpipe_version": "yes, calacs 10.4", "replacing_badfiles": "N/A",
    "modes_affected": "WFC full frame", "correctness_testing": "compared with the old dark",
    "history_updated": True, "jira_issue": "REDCAT-25",
}


def last_submission(srv) -> dict:
    done = srv.manage("shell", "-c", "import json; from crds_server.submission.models import "
                      "Submission as S; s = S.objects.order_by('-created').first(); "
                      "print(json.dumps({'state': s.state, 'new': s.new_context, "
                      "'redcat': s.results.get('redcat')}))")
    return json.loads(done.stdout.strip().splitlines()[-1])


def empty_upload_area(srv, user=USER) -> None:
    for name in upload_area(srv, user):
        (srv.base / "server_files" / "ingest" / user / name).unlink()


def test_the_redcat_form_is_described_and_its_fields_travel_with_the_delivery(hst, tmp_path):
    import urllib.request

    import yaml

    empty_upload_area(hst)

    with urllib.request.urlopen(f"{hst.url}/submission_form/redcat_description.yml",  # noqa: S310
                                timeout=10) as reply:
        described = yaml.safe_load(reply.read())
    assert len(described) == 23 and {f["key"] for f in described} >= set(REDCAT)
    [instrument] = [f for f in described if f["key"] == "instrument"]
    assert "acs" in instrument["choices"] and "nircam" not in instrument["choices"]
    # The real rc_submit client, with its parameters in YAML, delivers; the fields are kept
    # with the submission and shown on its results page.
    params = tmp_path / "redcat.yaml"
    params.write_text(yaml.safe_dump(REDCAT))
    ref = new_reference(hst, tmp_path / "acs_dark_redcat.fits", useafter="Nov 11 2025 00:00:00")
    client = Client(hst, tmp_path / "rc", MAST_API_TOKEN=PASSWORD, CRDS_USERNAME=USER)
    done = client.run(str(VENV_BIN / "python"), "-m", "crds.submit.rc_submit",
                      "--redcat-parameters", str(params), "--files", ref, "--username", USER,
                      "--monitor-processing", "--wait-for-completion", "--autoconfirm",
                      "--description", "ACS dark through the ReDCaT form", check_rc=False,
                      timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "COMPLETED:" in out, out[-4000:]
    last = last_submission(hst)
    assert last["state"] == "confirmed" and edit_context(hst) == last["new"], last
    assert last["redcat"]["modes_affected"] == "WFC full frame"
    assert last["redcat"]["history_updated"] is True and last["redcat"]["etc_delivery"] is False
    assert upload_area(hst) == []


def test_an_incomplete_redcat_form_names_each_missing_field_and_submits_nothing(
        hst, tmp_path):
    empty_upload_area(hst)
    before, before_edit = catalog(hst), edit_context(hst)
    params = tmp_path / "redcat.yaml"
    params.write_text(json.dumps({k: v for k, v in REDCAT.items()
                                  if k not in ("modes_affected", "correctness_testing")}
                                 | {"compliance_verified": "maybe", "other_email": "x@"}))
    ref = new_reference(hst, tmp_path / "acs_dark_rc_bad.fits", useafter="Jul 07 2025 00:00:00")
    client = Client(hst, tmp_path / "rc2", MAST_API_TOKEN=PASSWORD, CRDS_USERNAME=USER)
    done = client.run(str(VENV_BIN / "python"), "-m", "crds.submit.rc_submit",
                      "--redcat-parameters", str(params), "--files", ref, "--username", USER,
                      "--monitor-processing", "--wait-for-completion", "--autoconfirm",
                      "--description", "incomplete", check_rc=False, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode != 0 or " - ERROR - " in out, out[-3000:]
    for named in ("modes_affected", "correctness_testing", "compliance_verified",
                  "other_email"):
        assert named in out, (named, out[-3000:])
    assert catalog(hst) == before and edit_context(hst) == before_edit
    assert upload_area(hst) == ["acs_dark_rc_bad.fits"]  # kept, to correct the form
    client.crds("submit", "--username", USER, "--logout", check_rc=False)
    (hst.base / "server_files" / "ingest" / USER / "acs_dark_rc_bad.fits").unlink()


def test_the_redcat_python_api_reads_the_form_from_this_server(hst, tmp_path):
    """`rc_submit.Submission` takes its form from the server (its STScI host names are the
    one thing pointed here): each field's type and initial value pass its own checks."""
    client = Client(hst, tmp_path / "rc3", MAST_API_TOKEN=PASSWORD, CRDS_USERNAME=USER)
    ref = new_reference(hst, tmp_path / "acs_dark_api.fits", useafter="Aug 08 2025 00:00:00")
    done = client.python(
        "from crds.submit import rc_submit\n"
        f"rc_submit.BASE_URLS['test']['hst'] = {hst.url + '/'!r}\n"
        "s = rc_submit.Submission('hst', 'test')\n"
        f"for k, v in {REDCAT!r}.items(): s[k] = v\n"
        "s['change_level'] = 'TRIVIAL'\n"
        "s['description'] = 'through the python api'\n"
        "try:\n    s['instrument'] = 'nircam'\nexcept ValueError as e:\n    print('refused:', e)\n"
        f"s.add_file({ref!r})\n"
        "s.validate()\nprint('valid', sorted(s.keys()) == sorted(s._all_keys))\n")
    out = done.stdout + done.stderr
    assert "refused:" in out and "valid True" in out, out[-3000:]


def confirm_as(srv, tmp_path, url, action="confirm", user=USER, password=PASSWORD) -> str:
    """Confirm (or cancel) a ready submission through the real client's web connection, as a
    second browser tab would: the page it gets back."""
    client = Client(srv, tmp_path / f"tab-{action}", MAST_API_TOKEN=password, CRDS_USERNAME=user)
    done = client.python(
        "from crds.submit import web\n"
        f"c = web.CrdsDjangoConnection('acs', {user!r}, {password!r}, {srv.url!r})\n"
        "c.login()\n"
        f"r = c.repost_confirm_or_cancel({url!r}, action={action!r})\n"
        "print(r.status_code)\nprint(r.text)\n", check_rc=False)
    return done.stdout + done.stderr


def test_a_second_tab_supersedes_the_first_and_a_moved_edit_context_refuses_a_confirm(
        hst, tmp_path):
    empty_upload_area(hst)
    before_edit = edit_context(hst)
    first = new_reference(hst, tmp_path / "acs_dark_tab1.fits", useafter="Sep 09 2025 00:00:00")
    url1 = ready_url(submit(hst, tmp_path / "t1", "--files", first, "--description", "tab one"))
    second = new_reference(hst, tmp_path / "acs_dark_tab2.fits", useafter="Oct 10 2025 00:00:00")
    url2 = ready_url(submit(hst, tmp_path / "t2", "--files", second, "--wipe-existing-files",
                            "--description", "tab two"))
    # The first tab's submission was superseded: its confirm is refused and adds nothing.
    page = confirm_as(hst, tmp_path, url1)
    assert "superseded" in page and "CRDS server error" in page, page[-2000:]
    assert edit_context(hst) == before_edit
    # An operator moves the edit context meanwhile: confirming would drop that change.
    catalogued = catalog(hst)
    other = sorted(n for n in catalogued if n.endswith(".pmap") and n != before_edit)[0]
    moved = hst.manage("set_context", "--edit", other, "--description", "moved by a test")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    page = confirm_as(hst, tmp_path, url2)
    assert "the edit context moved" in page and other in page, page[-2000:]
    assert catalog(hst) == catalogued and edit_context(hst) == other
    assert upload_area(hst) == ["acs_dark_tab2.fits"]  # nothing lost: cancel, submit again
    back = hst.manage("set_context", "--edit", before_edit, "--description", "moved back")
    assert back.returncode == 0, back.stdout + back.stderr
    # Confirmed once only, however many tabs click.
    assert "confirmed" in confirm_as(hst, tmp_path, url2).lower()
    after = catalog(hst)
    page = confirm_as(hst, tmp_path, url2)
    assert "nothing to confirm" in page, page[-2000:]
    assert catalog(hst) == after
