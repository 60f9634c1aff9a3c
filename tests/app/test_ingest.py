"""Catalog integrity: ingest checks every file first and adds the good ones in one go;
a context becomes operational only when its whole closure is served; check_store names
broken contexts; RPC errors carry no server path. On a private HST server (scratch_server)
whose demo catalog each test extends with a tree it writes itself."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from appkit import sha1
from crds_server.seeding.mappings import mapping_checksum

REF = "zz90001aj_drk.fits"


def derive(text: str, renames: dict[str, str]) -> str:
    """A mapping's text with names replaced and its sha1sum header made right again."""
    for old, new in renames.items():
        text = text.replace(f"'{old}'", f"'{new}'")
    text = re.sub(r"'sha1sum' : '[0-9a-f]{40}'", f"'sha1sum' : '{'0' * 40}'", text)
    return text.replace("0" * 40, mapping_checksum(text), 1)


@pytest.fixture
def tree(scratch_server, tmp_path) -> dict:
    """A tree beside the demo catalog: a good new context (pmap -> imap -> rmap -> a new
    reference) and four bad files (unparseable, bad checksum, naming what nobody has,
    naming the unparseable one)."""
    srv = scratch_server
    store = srv.store / "mappings" / "hst"
    op = srv.manifest["operational"]
    pmap_text = (store / op).read_text()
    acs_imap = re.search(r"'ACS' : '(hst_acs_\d+\.imap)'", pmap_text).group(1)
    imap_text = (store / acs_imap).read_text()
    dark_rmap = re.search(r"'darkfile' : '(hst_acs_darkfile_\d+\.rmap)'", imap_text, re.I).group(1)
    rmap_text = (store / dark_rmap).read_text()
    old_ref = re.search(r"'(\w+_drk\.fits)'", rmap_text).group(1)

    base = tmp_path / "tree"
    maps, refs = base / "mappings" / "hst", base / "references" / "hst"
    maps.mkdir(parents=True)
    refs.mkdir(parents=True)
    shutil.copyfile(srv.store / "references" / "hst" / old_ref, refs / REF)
    rmap, imap, pmap = "hst_acs_darkfile_0901.rmap", "hst_acs_0901.imap", "hst_0901.pmap"
    good = {rmap: derive(rmap_text, {dark_rmap: rmap, old_ref: REF}),
            imap: derive(imap_text, {acs_imap: imap, dark_rmap: rmap}),
            pmap: derive(pmap_text, {op: pmap, acs_imap: imap})}
    bad = {"hst_acs_0902.imap": imap_text.replace("selector = {", "selector = {{ not python"),
           "hst_acs_darkfile_0903.rmap": rmap_text.replace("'ACS'", "'ACS' ", 1)
           .replace(dark_rmap, "hst_acs_darkfile_0903.rmap"),
           "hst_0904.pmap": derive(pmap_text, {op: "hst_0904.pmap",
                                               acs_imap: "hst_acs_0999.imap"}),
           "hst_0905.pmap": derive(pmap_text, {op: "hst_0905.pmap",
                                               acs_imap: "hst_acs_0902.imap"})}
    for name, text in {**good, **bad}.items():
        (maps / name).write_text(text)
    return {"path": base, "good": sorted([*good, REF]), "bad": sorted(bad), "acs_imap": acs_imap}


def catalog(srv) -> dict:
    return srv.result("get_file_info_map", "hst", None, ["size", "sha1sum"])


def test_ingest_refuses_each_bad_file_by_name_and_adds_the_rest(scratch_server, tree):
    srv = scratch_server
    before = catalog(srv)
    dry = srv.manage("ingest_cache", "--dry-run", str(tree["path"]), check=False)
    assert dry.returncode == 1 and "Traceback" not in dry.stderr, dry.stderr
    assert catalog(srv) == before, "a dry run changed the catalog"
    assert not (srv.store / "mappings" / "hst" / "hst_0901.pmap").exists()

    done = srv.manage("ingest_cache", str(tree["path"]), check=False)
    out, err = done.stdout, done.stderr
    assert done.returncode == 1 and "Traceback" not in err, err
    refused = dict(re.findall(r"^REFUSED (\S+): (.*)$", err, re.M))
    assert sorted(refused) == tree["bad"], err
    assert "the crds library cannot load it" in refused["hst_acs_0902.imap"]
    assert "sha1sum header is wrong" in refused["hst_acs_darkfile_0903.rmap"]
    assert "hst_acs_0999.imap, which is neither catalogued nor in the tree" in refused[
        "hst_0904.pmap"]
    assert "hst_acs_0902.imap, which is refused" in refused["hst_0905.pmap"]
    assert sorted(re.findall(r"^added (\S+)$", out, re.M)) == tree["good"]

    after = catalog(srv)
    assert set(after) - set(before) == set(tree["good"])
    for name in tree["good"]:
        kind = "references" if name.endswith(".fits") else "mappings"
        stored = srv.store / kind / "hst" / name
        assert after[name]["sha1sum"] == sha1(stored) == sha1(
            tree["path"] / kind / "hst" / name)
    for name in tree["bad"]:  # nothing of a refused file reaches the store
        assert not (srv.store / "mappings" / "hst" / name).exists(), name
    assert srv.manage("check_store").returncode == 0

    again = srv.manage("ingest_cache", str(tree["path"]), check=False)
    assert "0 added, 4 already catalogued, 4 refused" in again.stdout, again.stdout


def test_set_context_refuses_an_incomplete_closure_and_check_store_names_it(scratch_server,
                                                                            tree):
    srv = scratch_server
    good_only = tree["path"].parent / "good"
    shutil.copytree(tree["path"], good_only)
    for name in tree["bad"]:
        (good_only / "mappings" / "hst" / name).unlink()
    assert srv.manage("ingest_cache", str(good_only)).returncode == 0
    op = srv.manifest["operational"]
    imap = srv.store / "mappings" / "hst" / "hst_acs_0901.imap"
    ref = srv.store / "references" / "hst" / REF
    saved = imap.read_bytes()

    imap.unlink()  # catalogued, but no longer in the store
    refused = srv.manage("set_context", "--operational", "hst_0901.pmap", check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "hst_acs_0901.imap" in refused.stderr and "missing from the store" in refused.stderr
    assert srv.result("get_default_context", "hst") == op
    forced = srv.manage("set_context", "--operational", "hst_0901.pmap", "--force", check=False)
    assert forced.returncode != 0, "--force never accepts missing mappings"
    imap.write_bytes(saved)

    ref_bytes = ref.read_bytes()
    ref.unlink()  # a reference of the closure missing: refused unless forced
    refused = srv.manage("set_context", "--operational", "hst_0901.pmap", check=False)
    assert refused.returncode != 0 and REF in refused.stderr, refused.stderr
    assert srv.result("get_default_context", "hst") == op
    assert srv.manage("set_context", "--operational", "hst_0901.pmap", "--force").returncode == 0
    assert srv.result("get_default_context", "hst") == "hst_0901.pmap"
    ref.write_bytes(ref_bytes)

    # Now operational: break it under the server and check_store says which and why.
    imap.unlink()
    report = json.loads(srv.manage("check_store", "--json", check=False).stdout)
    assert not report["ok"]
    assert "hst_acs_0901.imap" in report["broken_contexts"]["hst_0901.pmap"]
    assert report["missing"] == ["hst_acs_0901.imap"]
    # ... and the client is told what is wrong, never where the server keeps its files.
    status, answer = srv.rpc("get_mapping_names", "hst_0901.pmap")
    message = answer["error"]["message"]
    assert status == 200 and answer["result"] is None
    assert "hst_acs_0901.imap" in message and "hst_0901.pmap" in message, message
    assert "/" not in message and str(srv.base) not in message, message
    assert "Traceback" not in message and "File \"" not in message
    imap.write_bytes(saved)
    assert srv.manage("check_store").returncode == 0
