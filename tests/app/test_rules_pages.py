"""The rules pages (crds_server.rules) under Apache + mod_wsgi, judged by the crds library:
the context table against the loaded mapping objects, the differences page against
crds.diff, best references against hv_best_references computed for the same header and
context in a crds process of the test's own (and the real `crds bestrefs` once)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from appkit import Client, instance_base, start_server
from astropy.io import fits
from bs4 import BeautifulSoup

from fleet.django_server import Memcached
from fleet.paths import VENV_BIN

try:
    from crds_server.seeding.mappings import format_match_useafter, render
except ImportError:  # the app not installed into the venv: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app"))
    from crds_server.seeding.mappings import format_match_useafter, render

SERVERLESS = "https://crds-serverless-mode.stsci.edu"
PER_PAGE = 200


# ---------------------------------------------------------------- helpers


def crds_local(server, code: str, *args: str):
    """Run ``code`` in a crds process of its own reading the server's store as a local,
    serverless, read-only cache (as the app configures its library); its last stdout
    line is JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_PATH=str(server.store), CRDS_OBSERVATORY=server.observatory,
               CRDS_MODE="local", CRDS_SERVER_URL=SERVERLESS, CRDS_READONLY_CACHE="1")
    done = subprocess.run([str(VENV_BIN / "python"), "-c", code, *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def get(server, path: str, **params) -> tuple[int, BeautifulSoup]:
    reply = requests.get(server.url + path, params=params, timeout=60)
    return reply.status_code, BeautifulSoup(reply.text, "html.parser")


def error_text(soup: BeautifulSoup) -> str:
    found = soup.find(id="error_message")
    return found.get_text(" ", strip=True) if found else ""


def form_session(server) -> tuple[requests.Session, str]:
    """A session that loaded the bestrefs form: its CSRF cookie and the form's token."""
    session = requests.Session()
    reply = session.get(server.url + "/bestrefs/", timeout=60)
    assert reply.status_code == 200
    assert "csrftoken" in reply.cookies
    token = BeautifulSoup(reply.text, "html.parser").find(
        "input", {"name": "csrfmiddlewaretoken"})["value"]
    return session, token


def post_bestrefs(server, data: dict, files: dict | None = None):
    session, token = form_session(server)
    reply = session.post(server.url + "/bestrefs/", data={**data, "csrfmiddlewaretoken": token},
                         files=files, timeout=120)
    return reply.status_code, BeautifulSoup(reply.text, "html.parser")


def page_bestrefs(soup: BeautifulSoup) -> dict[str, str]:
    """{filekind: crds's answer} from the result table; rows crds gave no answer for are
    left out (they say "(none)")."""
    out = {}
    for row in soup.select("table#bestrefs tr.bestref"):
        answer = row.select_one("td.answer").get_text(strip=True)
        if answer != "(none)":
            out[row["data-filekind"]] = answer
    return out


BESTREFS = r"""
import json, sys
from crds.core import heavy_client
ctx, header = sys.argv[1], json.loads(sys.argv[2])
refs = heavy_client.hv_best_references(ctx, header)
print(json.dumps({k.lower(): str(v) for k, v in refs.items()}))
"""

FILE_BESTREFS = r"""
import json, sys
from crds import data_file
from crds.core import heavy_client
ctx, path, obs = sys.argv[1:4]
header = data_file.get_header(path, observatory=obs)
refs = heavy_client.hv_best_references(ctx, header)
print(json.dumps({k.lower(): str(v) for k, v in refs.items()}))
"""


def seeded_header(server, dataset: Path) -> dict[str, str]:
    """The dataset's primary header cards (astropy), as strings."""
    with fits.open(dataset) as hdul:
        return {k: str(v) for k, v in hdul[0].header.items()
                if k not in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "COMMENT", "HISTORY", "")}


# ---------------------------------------------------------------- context table

PMAP_TREE = r"""
import json, sys
from crds.core import rmap
pmap = rmap.get_cached_mapping(sys.argv[1])
def name(v):
    return v if isinstance(v, str) else v.basename
print(json.dumps({i: [name(imap), {k: name(r) for k, r in imap.selections.items()}]
                  for i, imap in pmap.selections.items()}))
"""


def test_context_table_of_the_operational_pmap_lists_every_instrument(server):
    ctx = server.manifest["operational"]
    status, soup = get(server, f"/context_table/{ctx}")
    assert status == 200
    want = crds_local(server, PMAP_TREE, ctx)
    got, instrument = {}, None
    for row in soup.select("table#selections tr.filekind"):
        cell = row.select_one("td.instrument")
        if cell is not None:
            instrument = cell.get_text(strip=True)
            imap = row.select_one("td.imap a")
            assert imap["href"] == f"/context_table/{imap.get_text(strip=True)}"
            got[instrument] = [imap.get_text(strip=True), {}]
        rmap = row.select_one("td.rmap a")
        assert rmap["href"] == f"/context_table/{rmap.get_text(strip=True)}"
        got[instrument][1][row.select_one("td.kind").get_text(strip=True)] = \
            rmap.get_text(strip=True)
    assert got == want
    assert len(got) >= 2 and sum(len(k) for _, k in got.values()) >= 4
    assert f"Instruments ({len(want)})" in soup.get_text()


def test_context_table_of_an_imap_lists_its_filekinds(server):
    ctx = server.manifest["operational"]
    tree = crds_local(server, PMAP_TREE, ctx)
    for imap, kinds in tree.values():
        status, soup = get(server, f"/context_table/{imap}")
        assert status == 200, imap
        got = {row.select_one("td.kind").get_text(strip=True):
               row.select_one("td.rmap").get_text(strip=True)
               for row in soup.select("table#selections tr.filekind")}
        assert got == kinds, imap


RMAP_ROWS = r"""
import json, sys
from crds.core import rmap
out = {}
for name in sys.argv[1:]:
    m = rmap.get_cached_mapping(name)
    t = m.todict()
    out[name] = {"parameters": list(t["parameters"]),
                 "rows": [[str(v) for v in row] for row in t["selections"]],
                 "parkey": [list(p) for p in m.parkey]}
print(json.dumps(out))
"""


def page_rows(soup: BeautifulSoup) -> list[list[str]]:
    return [[td.get_text(strip=True) for td in row.find_all("td")]
            for row in soup.select("table#rows tr.row")]


def test_rmap_pages_show_the_rmaps_selections(server):
    ctx = server.manifest["operational"]
    tree = crds_local(server, PMAP_TREE, ctx)
    rmaps = sorted(r for _, kinds in tree.values() for r in kinds.values())
    want = crds_local(server, RMAP_ROWS, *rmaps)
    for name in rmaps:
        status, soup = get(server, f"/context_table/{name}")
        assert status == 200, name
        header = [th.get_text(strip=True) for th in soup.select("table#rows thead th")]
        assert header == want[name]["parameters"][:-1] + ["reference"]
        assert page_rows(soup) == want[name]["rows"], name
        count = len(want[name]["rows"])
        assert f"({count} row{'s' if count != 1 else ''})" in soup.find(id="row-count").text
        parkeys = [[c.get_text() for c in tr.find_all("code")]
                   for tr in soup.select("table#parkeys tr")]
        assert parkeys == want[name]["parkey"]
        if server.observatory == "hst":
            assert "USEAFTER" in header
    # a reference links to its catalog page, which exists
    status, soup = get(server, f"/context_table/{rmaps[0]}")
    link = soup.select_one("table#rows td.reference a")
    assert link["href"] == f"/browse/{link.get_text(strip=True)}"
    assert requests.get(server.url + link["href"], timeout=60).status_code == 200


def test_unknown_and_wrong_kind_names_are_404s(hst_server):
    status, soup = get(hst_server, "/context_table/hst_9999.pmap")
    assert status == 404 and "hst_9999.pmap is not in this CRDS server's catalog" in \
        error_text(soup)
    ref = next(iter(hst_server.manifest["expected_bestrefs"].values()))["darkfile"]
    status, soup = get(hst_server, f"/context_table/{ref}")
    assert status == 404 and f"{ref} is a reference file" in error_text(soup)
    ctx = hst_server.manifest["operational"]
    status, soup = get(hst_server, "/difference/", old=ctx, new="hst_9998.pmap")
    assert status == 404 and "hst_9998.pmap is not in this CRDS server's catalog" in \
        error_text(soup)
    status, soup = get(hst_server, "/difference/", old="hst_9997.pmap", new=ctx)
    assert status == 404 and "hst_9997.pmap" in error_text(soup)
    status, soup = post_bestrefs(hst_server, {"context": "hst_9996.pmap",
                                              "header_text": "INSTRUME = ACS"})
    assert status == 404 and "hst_9996.pmap is not in this CRDS server's catalog" in \
        error_text(soup)
    assert not soup.select("table#bestrefs")


# ---------------------------------------------------------------- pagination


@pytest.fixture(scope="module")
def big_rmap_server():
    """A private HST server with one more rmap of 450 rows (COS deadtab: 300 FUV, 150 NUV
    useafter dates), ingested after the seed."""
    mc = Memcached().start()
    srv = start_server(instance_base("rules"), "hst", mc.location)
    try:
        tree = srv.base / "big_tree"
        (tree / "mappings" / "hst").mkdir(parents=True)
        refs = sorted(Path(r).name for r in srv.manifest["references"]
                      if r.endswith("_dead.fits"))
        assert refs
        name = "hst_cos_deadtab_0900.rmap"
        header = {"derived_from": "hst_cos_deadtab_0001.rmap", "filekind": "DEADTAB",
                  "instrument": "COS", "mapping": "REFERENCE", "name": name,
                  "observatory": "HST", "parkey": (("DETECTOR",), ("DATE-OBS", "TIME-OBS")),
                  "reffile_format": "TABLE", "reffile_required": "NONE",
                  "reffile_switch": "DEADCORR", "rmap_relevance": "ALWAYS"}

        def dates(n, year):
            return [(f"{year + i // 12:04d}-{i % 12 + 1:02d}-01 00:00:00", refs[i % len(refs)])
                    for i in range(n)]

        text = render(header, format_match_useafter({("FUV",): dates(300, 1990),
                                                     ("NUV",): dates(150, 1995)}))
        (tree / "mappings" / "hst" / name).write_text(text)
        done = srv.manage("ingest_cache", str(tree), "--quiet")
        assert f"added {name}" in done.stdout, done.stdout + done.stderr
        srv.big_rmap = name
        yield srv
    finally:
        srv.httpd.stop()
        mc.stop()
        shutil.rmtree(srv.base, ignore_errors=True)


def test_rmap_rows_are_paginated(big_rmap_server):
    srv = big_rmap_server
    name = srv.big_rmap
    want = crds_local(srv, RMAP_ROWS, name)[name]["rows"]
    assert len(want) == 450
    seen = []
    for number in (1, 2, 3):
        status, soup = get(srv, f"/context_table/{name}", page=str(number))
        assert status == 200
        rows = page_rows(soup)
        assert len(rows) == min(PER_PAGE, 450 - (number - 1) * PER_PAGE)
        assert f"450 rows; page {number} of 3" in soup.find(id="row-count").text
        nxt = soup.select_one(".pager a[rel=next]")
        assert (nxt["href"] == f"?page={number + 1}") if number < 3 else nxt is None
        seen += rows
    assert seen == want
    # out of range and junk page numbers fall back to the last and the first page
    assert page_rows(get(srv, f"/context_table/{name}", page="99")[1]) == want[400:]
    assert page_rows(get(srv, f"/context_table/{name}", page="x")[1]) == want[:PER_PAGE]


# ---------------------------------------------------------------- differences

DIFFS = r"""
import json, os, sys
from crds import diff
old, new, obs = sys.argv[1:4]
LEVELS = ("PipelineContext", "InstrumentContext", "ReferenceMapping")
out = []
for d in diff.mapping_diffs(old, new, observatory=obs):
    flat = d.flat
    pair, match, kinds = None, [], []
    for par, value in zip(flat.parameter_names, flat):
        if par in LEVELS:
            pair, match = [os.path.basename(v) for v in value], []
            kinds.append(par)
        elif par != "DIFFERENCE":
            match.append(f"{par}={value}")
    out.append({"old": pair[0], "new": pair[1], "match": match, "message": flat[-1],
                "level": kinds[-1], "instrument": d.instrument, "filekind": d.filekind})
print(json.dumps(out))
"""


def page_differences(soup: BeautifulSoup) -> list[dict]:
    out = []
    for row in soup.select("table.differences tr.difference"):
        maps = [a.get_text(strip=True) for a in row.select("td.mappings a")]
        section = row.find_parent("section")["id"].removeprefix("instrument-")
        group = row.find_parent("div", class_="filekind")["id"]
        out.append({"old": maps[0], "new": maps[1],
                    "match": [c.get_text() for c in row.select("td.match code")],
                    "message": row.select_one("td.message").get_text(),
                    "level": row.select_one("td.level").get_text(strip=True),
                    "section": section, "group": group})
    return out


def _key(d: dict) -> tuple:
    return d["old"], d["new"], tuple(d["match"]), d["message"]


def check_differences(server, old: str, new: str, soup: BeautifulSoup) -> list[dict]:
    want = crds_local(server, DIFFS, old, new, server.observatory)
    got = page_differences(soup)
    assert sorted(map(_key, got)) == sorted(map(_key, want))
    assert len(got) == len(want)
    assert f"{old} → {new}: {len(want)} difference" in soup.find(id="summary").get_text()
    # grouped per instrument and filekind as crds attributes them
    for g, w in zip(sorted(got, key=_key), sorted(want, key=_key), strict=True):
        if w["level"] == "ReferenceMapping":
            assert g["level"] == "rmap"
            assert g["section"] == w["instrument"].lower()
            assert g["group"] == f"diff-{w['instrument'].lower()}-{w['filekind'].lower()}"
        elif w["level"] == "InstrumentContext":
            assert g["level"] == "imap" and g["section"] == w["instrument"].lower()
            assert g["group"] == f"diff-{g['section']}-{w['match'][0].split('=')[1].lower()}"
        else:
            assert g["level"] == "pmap"
            assert g["section"] == w["match"][0].split("=")[1].lower()
    return want


def test_differences_between_the_first_and_operational_contexts(server):
    history = server.manifest["history"]
    old, new = history[0][1], server.manifest["operational"]
    status, soup = get(server, "/difference/", old=old, new=new)
    assert status == 200
    want = check_differences(server, old, new, soup)
    assert len(want) >= 5
    assert any(w["level"] == "ReferenceMapping" for w in want)
    # the form offers every known pmap in both selects, the compared ones selected
    pmaps = sorted(Path(m).name for m in server.manifest["mappings"] if m.endswith(".pmap"))
    for select, chosen in (("old", old), ("new", new)):
        options = soup.select(f"form#difference-form select[name={select}] option")
        assert sorted(o["value"] for o in options) == pmaps
        assert [o["value"] for o in options if o.has_attr("selected")] == [chosen]
    # the files the rows add and replace are listed per filekind
    added = {a.get_text(strip=True) for a in soup.select("ul.files li.added a")}
    assert added == {w["message"].split("'")[-2] for w in want
                     if w["message"].startswith("added")}


def test_differences_of_each_history_step(server):
    history = [h[1] for h in server.manifest["history"]]
    for old, new in zip(history, history[1:], strict=False):
        status, soup = get(server, "/difference/", old=old, new=new)
        assert status == 200, (old, new)
        check_differences(server, old, new, soup)
        # the history page's link: ?new= alone finds the previous context
        status, soup2 = get(server, "/difference/", new=new)
        assert status == 200 and sorted(map(_key, page_differences(soup2))) == \
            sorted(map(_key, page_differences(soup)))
        # and the path form
        status, soup3 = get(server, f"/difference/{old}/{new}")
        assert status == 200 and len(page_differences(soup3)) == len(page_differences(soup))


def test_differences_of_a_context_with_itself_and_of_mixed_kinds(hst_server):
    ctx = hst_server.manifest["operational"]
    status, soup = get(hst_server, "/difference/", old=ctx, new=ctx)
    assert status == 200 and soup.find(id="no-differences") is not None
    assert not page_differences(soup)
    imap = next(Path(m).name for m in hst_server.manifest["mappings"] if m.endswith(".imap"))
    status, soup = get(hst_server, "/difference/", old=ctx, new=imap)
    assert status == 400 and "different kinds of mapping" in error_text(soup)
    first = hst_server.manifest["history"][0][1]
    status, soup = get(hst_server, "/difference/", new=first)
    assert status == 400 and f"{first} has no previous context" in error_text(soup)


def test_rmap_differences(hst_server):
    """Two rmaps compared directly: only rmap-level rows, as crds says."""
    rmaps = sorted(Path(m).name for m in hst_server.manifest["mappings"]
                   if "_darkfile_" in m and m.endswith(".rmap") and "_acs_" in m)
    assert len(rmaps) >= 2
    status, soup = get(hst_server, "/difference/", old=rmaps[0], new=rmaps[1])
    assert status == 200
    want = check_differences(hst_server, rmaps[0], rmaps[1], soup)
    assert want and all(w["level"] == "ReferenceMapping" for w in want)


# ---------------------------------------------------------------- best references


def test_bestrefs_form(server):
    session, token = form_session(server)
    soup = BeautifulSoup(session.get(server.url + "/bestrefs/", timeout=60).text, "html.parser")
    form = soup.find("form", id="bestrefs-form")
    assert form["method"] == "post" and form["enctype"] == "multipart/form-data"
    assert token and form.find("input", {"name": "csrfmiddlewaretoken"})
    chosen = [o["value"] for o in form.select("select[name=context] option[selected]")]
    assert chosen == [server.manifest["operational"]]
    for name in ("dataset", "header_text", "dataset_id"):
        assert form.find(attrs={"name": name}) is not None
    # without the token the POST is refused (CSRF)
    reply = requests.post(server.url + "/bestrefs/", data={"header_text": "INSTRUME = X"},
                          timeout=60)
    assert reply.status_code == 403


def test_bestrefs_from_pasted_header_lines_equal_crds(server):
    contexts = [server.manifest["operational"], server.manifest["history"][0][1]]
    differs = False
    for dataset in server.datasets():
        header = seeded_header(server, dataset)
        lines = "\n".join(f"{k:<8}= '{v}' / from {dataset.name}" for k, v in header.items())
        answers = []
        for ctx in contexts:
            status, soup = post_bestrefs(server, {"context": ctx, "header_text": lines})
            assert status == 200, error_text(soup)
            got = page_bestrefs(soup)
            want = crds_local(server, BESTREFS, ctx, json.dumps(header))
            assert got == want, (dataset.name, ctx)
            answers.append(got)
            # each selected reference is shown with the rmap row(s) giving it
            for row in soup.select("table#bestrefs tr.bestref"):
                link = row.select_one("td.reference a")
                if link is not None:
                    assert row.select("td.matches div.match"), row
        rel = str(dataset.relative_to(server.seed))
        assert answers[0] == server.manifest["expected_bestrefs"][rel]
        differs |= answers[0] != answers[1]
    assert differs, "the older context should select something else for some dataset"


def test_bestrefs_rule_row_is_the_rmap_row_of_the_reference(hst_server):
    dataset = hst_server.datasets()[0]
    header = seeded_header(hst_server, dataset)
    ctx = hst_server.manifest["operational"]
    status, soup = post_bestrefs(hst_server, {
        "context": ctx, "header_text": "\n".join(f"{k} = {v}" for k, v in header.items())})
    assert status == 200
    rows = crds_local(hst_server, RMAP_ROWS, *[
        row.select_one("td.rmap").get_text(strip=True)
        for row in soup.select("table#bestrefs tr.bestref")])
    for row in soup.select("table#bestrefs tr.bestref"):
        ref = row.select_one("td.reference").get_text(strip=True)
        table = rows[row.select_one("td.rmap").get_text(strip=True)]
        wanted = [r[:-1] for r in table["rows"] if r[-1] == ref]
        shown = [[c.get_text().split("=", 1)[1] for c in m.find_all("code")]
                 for m in row.select("td.matches div.match")]
        # crds's file_matches gives the useafter as date and time: join them back
        assert [s[:-2] + [f"{s[-2]} {s[-1]}"] for s in shown] == wanted


def test_bestrefs_not_applicable_filekind(hst_server):
    """ACS pfltfile is not relevant for an INTERNAL exposure: crds says NOT FOUND n/a."""
    dataset = next(d for d in hst_server.datasets() if d.name.startswith("j"))
    header = dict(seeded_header(hst_server, dataset), OBSTYPE="INTERNAL")
    ctx = hst_server.manifest["operational"]
    lines = "\n".join(f"{k} = {v}" for k, v in header.items())
    status, soup = post_bestrefs(hst_server, {"context": ctx, "header_text": lines})
    assert status == 200
    want = crds_local(hst_server, BESTREFS, ctx, json.dumps(header))
    assert want["pfltfile"].upper() == "NOT FOUND N/A"
    assert page_bestrefs(soup) == want
    row = soup.select_one("tr.bestref[data-filekind=pfltfile]")
    assert row.select_one("td.reference").get_text(strip=True).startswith("N/A")


def test_bestrefs_from_an_uploaded_fits_file_equal_crds(server, tmp_path):
    """A dataset made with astropy from a seeded one's header, with an earlier DATE-OBS:
    the page's answer equals crds's for the file, in-process and `crds bestrefs`."""
    seeded = server.datasets()[-1] if server.observatory == "hst" else server.datasets()[0]
    path = tmp_path / seeded.name.replace("demo", "test").replace("jw01024", "jw09999")
    with fits.open(seeded) as hdul:
        hdul[0].header["DATE-OBS"] = "2015-06-01"
        hdul.writeto(path)
    ctx = server.manifest["operational"]
    with open(path, "rb") as data:
        status, soup = post_bestrefs(server, {"context": ctx},
                                     files={"dataset": (path.name, data, "application/fits")})
    assert status == 200, error_text(soup)
    assert path.name in soup.find(id="result-title").get_text()
    got = page_bestrefs(soup)
    want = crds_local(server, FILE_BESTREFS, ctx, str(path), server.observatory)
    assert got == want and len(got) >= 2
    # the real command line, with its own cache synced from this server
    client = Client(server, tmp_path / "client_cache")
    done = client.crds("bestrefs", "--files", str(path), "--new-context", ctx,
                       "--print-new-references")
    printed = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == str(path):
            printed[parts[2].lower()] = parts[4]
    assert printed and all(got[k] == v for k, v in printed.items()), (printed, got)


def test_bestrefs_dataset_id_and_bad_input(hst_server):
    ctx = hst_server.manifest["operational"]
    status, soup = post_bestrefs(hst_server, {"context": ctx, "dataset_id": "JDEMO1WFQ"})
    assert status == 200 and not soup.select("table#bestrefs")
    notice = soup.find(id="notice").get_text(" ", strip=True)
    assert "JDEMO1WFQ" in notice and "no archive dataset service" in notice
    assert "Traceback" not in soup.get_text()
    status, soup = post_bestrefs(hst_server, {"context": ctx,
                                              "header_text": "INSTRUME = ACS\nnot a card"})
    assert status == 400 and "line 2" in error_text(soup)
    status, soup = post_bestrefs(hst_server, {"context": ctx})
    assert status == 400 and "give the dataset's file" in error_text(soup)
    status, soup = post_bestrefs(hst_server, {"context": ctx, "header_text": "DETECTOR = WFC"})
    assert status == 400 and "Missing 'INSTRUME' keyword" in error_text(soup)
    status, soup = post_bestrefs(hst_server, {"context": ctx}, files={
        "dataset": ("notes.txt", b"hello", "text/plain")})
    assert status == 400 and "notes.txt is not a dataset file" in error_text(soup)
    status, soup = post_bestrefs(hst_server, {"context": ctx}, files={
        "dataset": ("broken_raw.fits", b"SIMPLE  =  nonsense" * 10, "application/fits")})
    assert status == 400 and "cannot read the header of broken_raw.fits" in error_text(soup)


def test_pages_link_each_other(hst_server):
    """The pmap table links its differences and best references; the difference link the
    history page will use resolves."""
    ctx = hst_server.manifest["operational"]
    status, soup = get(hst_server, f"/context_table/{ctx}")
    hrefs = {a["href"] for a in soup.find_all("a")}
    assert f"/difference/?new={ctx}" in hrefs and f"/bestrefs/?context={ctx}" in hrefs
    previous = hst_server.manifest["history"][-2][1]
    status, soup = get(hst_server, "/bestrefs/", context=previous)
    assert [o["value"] for o in soup.select("select[name=context] option[selected]")] == \
        [previous]
