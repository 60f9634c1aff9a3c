"""The site's own pages over HTTP (the app under mod_wsgi): browse the catalog with its
filters, a file's panes, recent activity's search, the operators' Set Context and Mark
Bad/Good, one layout with the server's banner, and 404s that say what is missing.
(tests/browser drives the same pages in Chromium.)"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import requests
from appkit import instance_base, start_server
from astropy.io import fits

from fleet.django_server import Memcached

OPERATOR, OPERATOR_PASSWORD = "oscar", "operators password 12345"
SUBMITTER, SUBMITTER_PASSWORD = "alice", "submitters password 12345"


@pytest.fixture(scope="module")
def site():
    """A private HST server the operator tests may change."""
    mc = Memcached().start()
    srv = start_server(instance_base("pages"), "hst", mc.location)
    srv.manage("submitter", "set", OPERATOR, "--operator", input=OPERATOR_PASSWORD + "\n")
    srv.manage("submitter", "set", SUBMITTER, input=SUBMITTER_PASSWORD + "\n")
    yield srv
    srv.httpd.stop()
    mc.stop()
    shutil.rmtree(srv.base, ignore_errors=True)


def rows(html: str, table_id: str) -> list[list[str]]:
    """The text of each data row of <table id=...>."""
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S).group(1)
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                         row, re.S)]
        if cells:
            out.append(cells)
    return out


def names(html: str) -> list[str]:
    return [r[0].replace(" bad", "") for r in rows(html, "files") if len(r) > 1]


def session_of(srv, user, password) -> requests.Session:
    s = requests.Session()
    s.get(f"{srv.url}/login/", timeout=30)
    done = s.post(f"{srv.url}/login/", data={
        "username": user, "password": password, "instrument": "none", "next": "/",
        "csrfmiddlewaretoken": s.cookies["csrftoken"]}, timeout=30)
    assert done.status_code == 200 and 'id="error_message"' not in done.text, done.text[-2000:]
    return s


def post(s, srv, path, **data):
    return s.post(f"{srv.url}{path}", data={**data, "csrfmiddlewaretoken":
                                            s.cookies["csrftoken"]}, timeout=60)


def catalog_of(srv) -> dict[str, dict]:
    done = srv.manage("shell", "-c", "import json; from crds_server.interactive.models import "
                      "File; print(json.dumps({f.name: {'instrument': f.instrument, "
                      "'filekind': f.filekind} for f in File.objects.all()}))")
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_browse_filters_the_catalog_by_each_field(site):
    catalog = catalog_of(site)
    every = requests.get(f"{site.url}/browse_db/", timeout=30).text
    assert f"({len(catalog)} rows)" in every
    acs_darks = {n for n, i in catalog.items()
                 if i["instrument"] == "acs" and i["filekind"] == "darkfile"}
    page = requests.get(f"{site.url}/browse_db/", params={
        "instrument": "acs", "filekind": "darkfile"}, timeout=30).text
    assert set(names(page)) == acs_darks and acs_darks
    rmaps = requests.get(f"{site.url}/browse_db/", params={"name": "hst_*.rmap"},
                         timeout=30).text
    assert set(names(rmaps)) == {n for n in catalog if n.endswith(".rmap")}
    # "_" is a character, not a LIKE wildcard; no wildcard means "contains"
    assert names(requests.get(f"{site.url}/browse_db/", params={"name": "hst_0005"},
                              timeout=30).text) == ["hst_0005.pmap"]
    assert names(requests.get(f"{site.url}/browse_db/", params={"name": "hst?0005*"},
                              timeout=30).text) == ["hst_0005.pmap"]
    assert names(requests.get(f"{site.url}/browse_db/", params={"name": "hst%0005"},
                              timeout=30).text) == []
    bad_date = requests.get(f"{site.url}/browse_db/", params={"since": "yesterday"},
                            timeout=30).text
    assert "since &#x27;yesterday&#x27;: use a date like" in bad_date
    future = requests.get(f"{site.url}/browse_db/", params={"since": "2999-01-01"},
                          timeout=30).text
    assert names(future) == []


def test_a_reference_page_shows_its_header_users_and_the_rows_that_select_it(site):
    ref = "32b1403dj_drk.fits"
    page = requests.get(f"{site.url}/browse/{ref}", timeout=30).text
    with fits.open(site.store / "references" / "hst" / ref) as hdul:
        useafter = hdul[0].header["USEAFTER"]
    assert f"<th>USEAFTER</th><td>{useafter}</td>" in page
    pmap = site.manifest["operational"]
    rmap = next(n for n in site.result("get_mapping_names", pmap)
                if n.startswith("hst_acs_darkfile"))
    assert f'<a href="/browse/{rmap}">{rmap}</a>' in page  # used by its rmap
    assert f'<a href="/browse/{pmap}">{pmap}</a>' in page  # and the contexts above it
    assert 'class="pattern"' in page and f">{pmap}</a>, case 1</caption>" in page
    assert "<th>filekind</th><td>darkfile</td>" in page
    mapping = requests.get(f"{site.url}/browse/{rmap}", timeout=30).text
    assert "header = {" in mapping and ref in mapping  # the rmap's text


def test_recent_activity_is_searched_by_action_and_file(site):
    every = requests.get(f"{site.url}/recent_activity/", timeout=30).text
    assert rows(every, "activity")
    pmaps = requests.get(f"{site.url}/recent_activity/", params={"filename": "*.pmap"},
                         timeout=30).text
    found = rows(pmaps, "activity")
    assert found and all(r[3].endswith(".pmap") for r in found), found
    none = requests.get(f"{site.url}/recent_activity/", params={"user": "nobody-at-all"},
                        timeout=30).text
    assert rows(none, "activity") == [["nothing matches"]]


def test_one_layout_names_the_server_and_a_missing_name_is_a_clear_404(site):
    home = requests.get(f"{site.url}/", timeout=30).text
    assert 'id="server-banner"' in home and "not the operational HST server" in home
    for path in ("/browse_db/", "/recent_activity/", "/context_history/", "/login/"):
        assert 'id="server-banner"' in requests.get(f"{site.url}{path}", timeout=30).text
    missing = requests.get(f"{site.url}/browse/hst_9999.pmap", timeout=30)
    assert missing.status_code == 404
    assert "hst_9999.pmap is not in this CRDS server&#x27;s catalog" in missing.text
    assert 'id="server-banner"' in missing.text  # the same layout


def test_operator_pages_refuse_who_is_not_an_operator(site):
    anonymous = requests.get(f"{site.url}/set_context/", timeout=30, allow_redirects=False)
    assert anonymous.status_code == 302 and "/login/" in anonymous.headers["Location"]
    s = session_of(site, SUBMITTER, SUBMITTER_PASSWORD)
    refused = s.get(f"{site.url}/mark_bad/", timeout=30)
    assert refused.status_code == 403 and "not an operator" in refused.text


def test_set_context_checks_then_confirms_and_writes_the_history(site):
    s = session_of(site, OPERATOR, OPERATOR_PASSWORD)
    before = site.result("get_default_context", "hst", "operational")
    history = len(site.result("get_context_history", "hst"))
    target = "hst_0004.pmap"
    unknown = post(s, site, "/set_context/", context="hst_0099.pmap", which="operational",
                   description="x")
    assert unknown.status_code == 400 and "hst_0099.pmap is not a context" in unknown.text
    asked = post(s, site, "/set_context/", context=target, which="operational",
                 description="back one for a test")
    assert 'id="confirm"' in asked.text, re.findall(r'error_message problem">([^<]*)', asked.text)
    assert site.result("get_default_context", "hst", "operational") == before  # not yet
    done = post(s, site, "/set_context/", context=target, which="operational",
                description="back one for a test", confirm="yes")
    assert 'id="done"' in done.text, done.text[-2000:]
    assert site.result("get_default_context", "hst", "operational") == target
    assert len(site.result("get_context_history", "hst")) == history + 1
    audit = requests.get(f"{site.url}/recent_activity/", params={"user": OPERATOR},
                         timeout=30).text
    assert any(r[2] == "set operational context" and r[3] == target
               for r in rows(audit, "activity"))
    post(s, site, "/set_context/", context=before, which="operational",
         description="forward again", confirm="yes")
    assert site.result("get_default_context", "hst", "operational") == before


def test_mark_bad_lists_the_users_first_refuses_each_bad_name_and_marks_good_again(site):
    s = session_of(site, OPERATOR, OPERATOR_PASSWORD)
    pmap = site.manifest["operational"]
    rmap = next(n for n in site.result("get_mapping_names", pmap)
                if n.startswith("hst_acs_darkfile"))
    bad_before = site.result("get_server_info")["bad_files"]
    refused = post(s, site, "/mark_bad/", names=f"{rmap}\nnot_a_file.rmap\n{pmap}",
                   action="bad", reason="a test")
    assert refused.status_code == 400
    assert "not_a_file.rmap</strong>: not in this server" in refused.text
    assert f"{pmap}</strong>: the operational context" in refused.text
    assert site.result("get_server_info")["bad_files"] == bad_before  # nothing partial
    asked = post(s, site, "/mark_bad/", names=rmap, action="bad", reason="a test")
    users = re.findall(r"<li>([^<]+)</li>", asked.text.split('class="users"')[1])
    assert "hst_acs_0005.imap" in users or any(u.endswith(".imap") for u in users), users
    assert site.result("get_server_info")["bad_files"] == bad_before
    done = post(s, site, "/mark_bad/", names=rmap, action="bad", reason="a test",
                confirm="yes")
    assert 'id="done"' in done.text, done.text[-2000:]
    assert rmap in site.result("get_server_info")["bad_files"]
    good = post(s, site, "/mark_bad/", names=rmap, action="good", reason="it was fine",
                confirm="yes")
    assert 'id="done"' in good.text, good.text[-2000:]
    assert site.result("get_server_info")["bad_files"] == bad_before
