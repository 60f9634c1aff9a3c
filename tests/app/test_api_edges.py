"""JSON-RPC and download edges: bad input gets a clear answer, never a 500."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REQUIRED_INFO = ("observatory", "operational_context", "latest_context", "edit_context",
                 "versions_context", "bad_files_list", "mappings", "download_metadata",
                 "mapping_url", "reference_url", "force_remote_mode", "crds_version",
                 "last_synced")


def test_server_info_fields_and_urls_follow_the_request_host(server):
    info = server.result("get_server_info")
    assert set(REQUIRED_INFO) <= set(info)
    assert info["download_metadata"]["crds_encoded"] == "1.0"
    obs = server.observatory
    assert info["mapping_url"] == {obs: f"{server.url}/unchecked_get/mappings/{obs}/"}
    other = server.url.replace("localhost", "127.0.0.1")
    req = urllib.request.Request(other + "/json/", data=json.dumps(  # noqa: S310
        {"jsonrpc": "1.0", "method": "get_server_info", "params": [], "id": 1}).encode())
    with urllib.request.urlopen(req) as reply:  # noqa: S310 - loopback
        via_ip = json.loads(reply.read())["result"]
    assert via_ip["reference_url"] == {obs: f"{other}/unchecked_get/references/{obs}/"}
    text = json.dumps(info)
    assert "secret" not in text.lower() and "password" not in text.lower()


def test_file_info_strings_and_not_found(server):
    obs, pmap = server.observatory, server.manifest["operational"]
    info = server.result("get_file_info_map", obs, [pmap, "no_such_file.fits"], None)
    assert info["no_such_file.fits"] == "NOT FOUND"
    record = info[pmap]
    assert record["rejected"] == "false" and record["blacklisted"] == "false"
    assert all(isinstance(v, str) for v in record.values())
    path = server.store / "mappings" / obs / pmap
    assert record["size"] == str(path.stat().st_size)
    assert server.result("get_file_info", obs, pmap)["type"] == "mapping"


def test_dataset_id_methods_say_there_is_no_archive(server):
    for method, params in [("get_dataset_ids", [server.manifest["operational"], "acs", None]),
                           ("get_dataset_headers_by_id", ["x.pmap", ["A:B"], None]),
                           ("get_best_references_by_ids", ["x.pmap", ["A:B"], None, False]),
                           ("get_affected_datasets", [server.observatory, None, None])]:
        status, answer = server.rpc(method, *params)
        assert status == 200 and "no archive dataset service" in answer["error"]["message"]


def test_wrong_parameters_are_explained(server):
    cases = [
        ("get_default_context", ["roman"], "serves observatory"),
        ("get_mapping_names", [42], "must be a non-empty string"),
        ("get_mapping_names", [], "bad parameters for get_mapping_names"),
        ("get_file_info_map", [server.observatory, "notalist", None], "list of strings"),
        ("get_best_references", [server.manifest["operational"], ["x"], None], "header must"),
        ("get_context_by_date", ["yesterday", None], "bad context"),
    ]
    for method, params, expected in cases:
        status, answer = server.rpc(method, *params)
        assert status == 200 and answer["result"] is None
        assert expected in answer["error"]["message"], (method, answer)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)
METHOD = st.sampled_from(["get_server_info", "get_default_context", "get_mapping_names",
                          "get_file_info_map", "get_best_references", "get_context_by_date",
                          "get_required_parkeys", "get_url", "list_references", "nope", ""])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(
    st.binary(max_size=200),
    JSONISH.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"method": METHOD, "params": JSONISH, "id": JSONISH})
    .map(lambda v: json.dumps(v).encode()),
))
def test_malformed_requests_never_give_500(hst_server, body):
    status, answer = hst_server.rpc("fuzz", raw=body)
    assert status == 200
    assert set(answer) >= {"error", "result"}
    if answer["error"] is not None:
        assert answer["result"] is None and answer["error"]["message"]


def test_downloads_only_catalogued_names(server):
    obs = server.observatory
    base = f"{server.url}/unchecked_get"
    ref = sorted(server.result("get_reference_names", server.manifest["operational"]))[0]
    info = server.result("get_file_info_map", obs, [ref], ["size", "sha1sum"])[ref]
    head = requests.head(f"{base}/references/{obs}/{ref}", allow_redirects=False, timeout=30)
    assert head.status_code == 200 and head.headers["content-length"] == info["size"]
    got = requests.get(f"{base}/references/{obs}/{ref}", timeout=30)
    import hashlib

    assert hashlib.sha1(got.content).hexdigest() == info["sha1sum"]  # noqa: S324
    for bad in (f"references/{obs}/not_catalogued.fits", f"mappings/{obs}/{ref}",
                "references/roman/" + ref, f"config/{obs}/passwd"):
        reply = requests.get(f"{base}/{bad}", timeout=30, allow_redirects=False)
        assert reply.status_code == 404, (bad, reply.status_code)


# Path tricks, each as raw bytes on the wire (http.client sends the path as given: no
# client collapses "../.." or decodes "%2e" before the server sees it).
TRICKS = ["references/{obs}/..%2F..%2Fsite_config.toml",
          "mappings/{obs}/../../site_config.toml", "references/{obs}/.%2e/.%2e/crds.sqlite3",
          "references/{obs}/%2e%2e%2f%2e%2e%2fcrds.sqlite3",
          "mappings/{obs}/..\\..\\site_config.toml", "mappings/{obs}/{pmap}%00.txt",
          "mappings/{obs}/{pmap}/../../../site_config.toml", "config/{obs}/../../site_config.toml",
          "pickles/{obs}/../../crds.sqlite3"]
LEAKS = (b"secret_key_file", b"SQLite format 3", b"[database]")


def test_path_tricks_on_the_wire_get_nothing(server):
    import http.client

    pmap = server.manifest["operational"]
    host, port = server.url.split("//", 1)[1].split(":")
    for trick in TRICKS:
        path = "/unchecked_get/" + trick.format(obs=server.observatory, pmap=pmap)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.putrequest("GET", path, skip_accept_encoding=True)
            conn.endheaders()
            reply = conn.getresponse()
            body = reply.read()
        finally:
            conn.close()
        assert reply.status in (400, 404), (path, reply.status)
        assert not any(leak in body for leak in LEAKS), (path, body[:200])


def test_path_tricks_that_reach_the_app_are_refused_by_it(server):
    """The same tricks decoded as a lenient front end would hand them over (literal "..",
    "%2e" as ".", "%2F" as "/"), straight to the app: Django's own URL routing and the
    download view refuse each one (no web server in between to normalize anything)."""
    pmap = server.manifest["operational"]
    from urllib.parse import unquote

    paths = sorted({unquote("/unchecked_get/" + t.format(obs=server.observatory, pmap=pmap))
                    for t in TRICKS})
    code = ("import json, sys; from django.test import Client; c = Client(); "
            "print(json.dumps({p: [r.status_code, r.content[:4000].decode('latin-1')] for p in "
            "json.loads(sys.argv[1]) for r in [c.get(p, HTTP_HOST='localhost', secure=True)]}))")
    out = server.manage("shell", "-c", code.replace("sys.argv[1]", repr(json.dumps(paths)))).stdout
    answers = json.loads(out.strip().splitlines()[-1])
    assert sorted(answers) == paths
    for path, (status, body) in answers.items():
        assert status == 404, (path, status)
        assert not any(leak.decode() in body for leak in LEAKS), path


def test_pages(server):
    pmap = server.manifest["operational"]
    home = requests.get(server.url + "/", timeout=30)
    assert home.status_code == 200 and pmap in home.text
    assert server.manifest["history"][-1][2][:20] in home.text
    page = requests.get(f"{server.url}/browse/{pmap}", timeout=30)
    assert page.status_code == 200 and "sha1sum" in page.text
    assert f"/unchecked_get/mappings/{server.observatory}/{pmap}" in page.text
    for path in ("/context_history/", "/recent_activity/"):
        reply = requests.get(server.url + path, timeout=30)
        assert reply.status_code == 200 and pmap in reply.text
    assert requests.get(f"{server.url}/browse/nothing.fits", timeout=30).status_code == 404
