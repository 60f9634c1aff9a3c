"""Contract section 8 scenarios, HST and JWST, with the real crds client."""

from __future__ import annotations

import ast
import datetime
import json
import sqlite3
import time

from appkit import Client, count_summary, errors, sha1

from fleet.paths import VENV_BIN


def _mid(a: str, b: str) -> str:
    """A date strictly between two history dates, as the client writes dates."""
    da, db = (datetime.datetime.fromisoformat(x[:19]) for x in (a, b))
    return (da + (db - da) / 2).strftime("%Y-%m-%dT%H:%M:%S")


# 1
def test_rpc_default_context_and_unknown_method(server):
    pmap = server.result("get_default_context", server.observatory)
    assert pmap == server.manifest["operational"]
    assert server.result("get_default_context", server.observatory, "edit") == \
        server.manifest["edit"]
    status, answer = server.rpc("no_such_method", server.observatory)
    assert status == 200 and answer["result"] is None
    assert "unknown method 'no_such_method'" in answer["error"]["message"]


# 2
def test_list_status_and_config(client):
    status = client.crds("list", "--status")
    assert f"Effective Context = '{client.server.manifest['operational']}'" in status.stdout
    config = client.crds("list", "--config")
    assert client.server.url in config.stdout
    assert not errors(status) and not errors(config)


# 3
def test_list_operational_and_resolve_contexts(client):
    obs, manifest = client.server.observatory, client.server.manifest
    done = client.crds("list", "--operational-context")
    assert done.stdout.strip().splitlines()[-1] == manifest["operational"]
    history = manifest["history"]
    between = _mid(history[1][0], history[2][0])
    done = client.crds("list", "--resolve-contexts", "--contexts", f"{obs}-edit",
                       f"{obs}-{between}")
    assert sorted(done.stdout.split()) == sorted({manifest["edit"], history[1][1]})


# 4
def test_api_context_calls(client):
    obs, manifest = client.server.observatory, client.server.manifest
    history = manifest["history"]
    between = _mid(history[0][0], history[1][0])
    done = client.python(
        "import json; from crds.client import api\n"
        f"print(json.dumps([api.get_default_context({obs!r}), api.get_context_history({obs!r}),"
        f" api.get_context_by_date({obs + '-' + between!r}, {obs!r})]))")
    default, got_history, by_date = json.loads(done.stdout.strip().splitlines()[-1])
    assert default == manifest["operational"]
    assert [h[1] for h in got_history] == [h[1] for h in history]
    assert [h[0][:19] for h in got_history] == [h[0][:19] for h in history]
    assert by_date == history[0][1]


def test_qualified_context_by_date(server):
    obs, history = server.observatory, server.manifest["history"]
    pmap = history[-1][1]
    imaps = [n for n in server.result("get_mapping_names", pmap) if n.endswith(".imap")]
    instr = imaps[0].split("_")[1]
    date = history[-1][0][:10] + "T23:59:59"
    imap = server.result("get_context_by_date", f"{obs}-{instr}-{date}", obs)
    assert imap in imaps
    rmaps = [n for n in server.result("get_mapping_names", imap) if n.endswith(".rmap")]
    kind = rmaps[0][len(f"{obs}_{instr}_"):].rsplit("_", 1)[0]
    assert server.result("get_context_by_date", f"{obs}-{instr}-{kind}-{date}", obs) == rmaps[0]
    # -edit: the rmap of that instrument and filekind in the edit context.
    in_edit = [n for n in server.result("get_mapping_names", server.manifest["edit"])
               if n.startswith(f"{obs}_{instr}_{kind}_") and n.endswith(".rmap")]
    assert len(in_edit) == 1, in_edit
    assert server.result("get_context_by_date", f"{obs}-{instr}-{kind}-edit", obs) == in_edit[0]
    status, answer = server.rpc("get_context_by_date", f"{obs}-1990-01-01T00:00:00", obs)
    assert "no context was in use" in answer["error"]["message"]


# 5
def test_sync_latest_then_warm_sync_only_asks_server_info(client):
    server = client.server
    done = client.crds("sync", "--contexts", f"{server.observatory}-latest", "--stats")
    assert count_summary(done, "errors") == 0
    config = client.cache / "config" / server.observatory / "server_config"
    info = ast.literal_eval(config.read_text())
    assert info["operational_context"] == server.manifest["operational"]
    closure = server.result("get_mapping_names", server.manifest["operational"])
    for name in closure:
        cached = client.cache / "mappings" / server.observatory / name
        assert sha1(cached) == sha1(server.store / "mappings" / server.observatory / name)
    # Apache writes its access log a moment after it answers: wait for the line of the
    # get_mapping_names above before counting, or it lands in the window below.
    for _ in range(50):
        if server.access_log() and "/json/get_mapping_names/" in server.access_log()[-1]:
            break
        time.sleep(0.1)
    before = len(server.access_log())
    done = client.crds("sync", "--contexts", f"{server.observatory}-latest")
    assert count_summary(done, "errors") == 0
    new = server.access_log()[before:]
    assert new and all("/json/get_server_info/" in line for line in new), new


# 6 and 7
def test_sync_references_check_and_repair(client):
    server, obs = client.server, client.server.observatory
    ctx = server.manifest["operational"]
    args = ["sync", "--contexts", ctx, "--fetch-references", "--check-files", "--check-sha1sum"]
    done = client.crds(*args)
    assert count_summary(done, "errors") == 0, done.stdout + done.stderr
    refs = server.result("get_reference_names", ctx)
    info = server.result("get_file_info_map", obs, refs, ["sha1sum", "size"])
    cached = {p.name: p for p in (client.cache / "references" / obs).rglob("*") if p.is_file()}
    assert set(refs) <= set(cached)
    for name in refs:
        assert sha1(cached[name]) == info[name]["sha1sum"]
        assert cached[name].stat().st_size == int(info[name]["size"])
    victim = cached[sorted(refs)[0]]
    data = bytearray(victim.read_bytes())
    data[100:104] = b"XXXX"
    victim.write_bytes(bytes(data))
    done = client.crds(*args, "--repair-files", check_rc=False)
    assert len(errors(done)) == 1 and victim.name in errors(done)[0]
    assert "Repairing file" in done.stdout + done.stderr
    assert sha1(victim) == info[victim.name]["sha1sum"]


# 8
def test_sync_files_to_output_dir(client, tmp_path):
    server, obs = client.server, client.server.observatory
    ctx = server.manifest["operational"]
    ref = sorted(server.result("get_reference_names", ctx))[0]
    rmap = sorted(n for n in server.result("get_mapping_names", ctx) if n.endswith(".rmap"))[0]
    out = tmp_path / "out"
    client.run(str(VENV_BIN / "python"), "-m", "crds.sync", "--files", ref, rmap,
               "--output-dir", str(out))
    assert sha1(out / ref) == sha1(server.store / "references" / obs / ref)
    assert sha1(out / rmap) == sha1(server.store / "mappings" / obs / rmap)


# 9
def test_bestrefs_local_and_remote_agree(client, tmp_path):
    server = client.server
    ctx = server.manifest["operational"]
    datasets = [str(p) for p in server.datasets()]
    args = ["bestrefs", "--files", *datasets, "--new-context", ctx, "--print-new-references"]
    local = client.crds(*args)
    # the bestrefs script reads the rules locally to know which types a dataset needs,
    # then asks the server one get_best_references per dataset in remote mode
    remote_client = Client(server, tmp_path / "rules_only", CRDS_MODE="remote")
    remote_client.crds("sync", "--contexts", ctx)
    before = len(server.access_log())
    remote = remote_client.crds(*args)
    asked = [line for line in server.access_log()[before:] if "/json/get_best_references/" in line]
    assert len(asked) >= len(datasets)
    assert not errors(local) and not errors(remote), local.stdout + remote.stdout

    def refs(done):
        return sorted(line for line in done.stdout.splitlines() if line.startswith("/"))

    assert refs(local) == refs(remote)
    assert len(refs(local)) >= len(datasets)
    assert not list((tmp_path / "rules_only" / "references").rglob("*.*"))


def test_best_references_rpc_matches_library_semantics(server):
    status, answer = server.rpc("get_best_references", server.manifest["operational"],
                                {"NO_SUCH_KEYWORD": "x"}, None)
    # The library cannot pick an instrument without its keyword; the server says so, as the
    # library does, and answers no result.
    keyword = {"hst": "INSTRUME", "jwst": "META.INSTRUMENT.NAME"}[server.observatory]
    assert status == 200 and answer["result"] is None, answer
    assert f"Missing '{keyword}' keyword in header" in answer["error"]["message"], answer
    status, answer = server.rpc("get_best_references", "nonexistent_0001.pmap", {}, None)
    assert "not known to this CRDS server" in answer["error"]["message"]


# 10
def test_sync_last_n_and_all(client):
    server, obs = client.server, client.server.observatory
    done = client.crds("sync", "--last-n-contexts", "2")
    assert count_summary(done, "errors") == 0
    done = client.crds("sync", "--all")
    assert count_summary(done, "errors") == 0
    pmaps = sorted(p.name for p in (client.cache / "mappings" / obs).glob("*.pmap"))
    assert pmaps == sorted(n for n in server.result("list_mappings", obs, "*.pmap"))


# 12
def test_fetch_sqlite_db_and_sql(client):
    server, obs = client.server, client.server.observatory
    client.crds("sync", "--fetch-sqlite-db")
    db = client.cache / "config" / obs / "crds_db.sqlite3"
    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master")}
        n_catalog = con.execute(f"select count(*) from crds_{obs}_catalog").fetchone()[0]  # noqa: S608
        n_history = con.execute(f"select count(*) from crds_{obs}_context_history").fetchone()[0]  # noqa: S608
    assert {f"crds_{obs}_catalog", f"crds_{obs}_context_history"} <= tables
    info = server.result("get_file_info_map", obs, None, ["size"])
    assert n_catalog == len(info)
    assert n_history == len(server.manifest["history"])
    done = client.crds("sql", "--list-tables")
    assert f"crds_{obs}_catalog" in done.stdout


# 13
def test_push_and_list_remote_context(client):
    server, obs = client.server, client.server.observatory
    client.crds("sync", "--contexts", f"{obs}-latest", "--push-context", f"pipe-{obs}")
    done = client.crds("list", "--remote-context", f"pipe-{obs}")
    assert done.stdout.strip().splitlines()[-1] == server.manifest["operational"]
