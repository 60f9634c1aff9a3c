"""A lab server holding a catalog the size of HST ops (marker `lab`, `slow`).

hst-test gets a generated rules tree of about 2,300 mappings and 150,000 (small)
references (crds_server.seeding.scale, generated on the server, never committed),
ingested with `manage.py ingest_cache`; its newest context selects about 20,000 of them.
Then, with the real client and the real tasks: RPC latencies against the same calls on a
demo-size catalog (hst-ops, seeded by the converge), `crds sync --fetch-references
--check-files` of that context, `invoke check`, `invoke backup`, `invoke restore`, and a
mirror hst-test -> hst-dev. The figures go to .cache/scale/results.json.

Runs after every other lab test and puts hst-test and hst-dev back as it found them
(restores from backups made first), removing what it generated.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import time

import pytest
from opskit import CA, ENV, inv, rpc, url

from fleet.inventory import Inventory
from fleet.ops.service import Target
from fleet.paths import CACHE, VENV_BIN

pytestmark = [pytest.mark.lab, pytest.mark.slow]

BIG, SMALL, DEV = "hst-test", "hst-ops", "hst-dev"
URLS = {BIG: url(12), SMALL: url(11), DEV: url(13)}
RESULTS = CACHE / "scale" / "results.json"
HEADER = {"INSTRUME": "ACS", "DETECTOR": "WFC", "CCDAMP": "ABCD", "CCDGAIN": "2.0",
          "DATE-OBS": "2010-01-01", "TIME-OBS": "00:00:00", "OBSTYPE": "IMAGING",
          "FILTER1": "F606W", "FILTER2": "CLEAR2L", "BIASCORR": "PERFORM",
          "DARKCORR": "PERFORM", "FLATCORR": "PERFORM"}


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    out = fn(*args, **kw)
    return time.monotonic() - t0, out


def latency(address: str, method: str, params: list, n: int = 5) -> float:
    """The median of ``n`` calls after a first one (which fills the server's caches)."""
    rpc(address, method, params, timeout=600)
    return statistics.median(timed(rpc, address, method, params, timeout=600)[0]
                             for _ in range(n))


@pytest.fixture(scope="module")
def servers(converged_lab):
    inventory = Inventory("lab")
    out = {n: Target(inventory.server(n), inventory.spec) for n in (BIG, SMALL, DEV)}
    yield out
    for t in out.values():
        t.close()


def newest_stamp(name: str) -> str:
    return json.loads(inv("backups", "--server", name, "--json").stdout)["dated"][-1]["stamp"]


def test_a_catalog_the_size_of_hst_ops(servers):
    big, dev = servers[BIG], servers[DEV]
    figures: dict = {}
    inv("backup", "--server", BIG, "--yes")
    inv("backup", "--server", DEV, "--yes")
    before = {n: newest_stamp(n) for n in (BIG, DEV)}
    tree = f"{big.paths.server_files}/scale_tree"
    try:
        _run(servers, tree, figures)
    finally:
        figures.setdefault("cleanup", {})
        # The generated files go first (by their names in the tree): the restores that follow
        # then have a few orphans to put aside, not 150,000.
        for t in (big, dev):
            for sub in ("mappings", "references"):
                t.remote.sh(f"test -d {tree}/{sub}/hst || exit 0; cd {tree}/{sub}/hst && "
                            f"find . -type f -printf '%f\\0' | (cd {t.paths.file_cache}/{sub}"
                            "/hst && xargs -0 -r rm -f)")
        for name in (BIG, DEV):
            t0 = time.monotonic()
            inv("restore", "--server", name, "--from", before[name], "--yes", timeout=3600)
            figures["cleanup"][f"restore {name}"] = round(time.monotonic() - t0, 1)
        for t in (big, dev):
            t.remote.sh(f"rm -rf {t.paths.server_dir}/quarantine {tree}")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
        print(json.dumps(figures, indent=1))
    for name in (BIG, DEV):
        assert servers[name].listening() == {8001}
        assert servers[name].check_store(sha1=False)["ok"]


def _run(servers, tree: str, figures: dict) -> None:
    big = servers[BIG]
    secs, _ = timed(inv, "manage", "--server", BIG, "--", "seed_scale", tree)
    figures["generate_s"] = round(secs, 1)
    manifest = json.loads(big.remote.sh(f"cat {tree}/scale.json").stdout)
    assert manifest["mappings"] >= 2200 and manifest["references"] >= 140_000, manifest

    secs, done = timed(inv, "manage", "--server", BIG, "--", "ingest_cache", "--quiet", tree,
                       timeout=3600)
    figures["ingest_s"] = round(secs, 1)
    figures["ingest_report"] = [ln for ln in done.stdout.splitlines()
                                if not ln.startswith("added ")]
    rates = [int(r) for r in re.findall(r"checked and catalogued in [\d.]+s \((\d+)/s\)",
                                        done.stdout)]
    assert len(rates) == 2, done.stdout
    speeds = {"mappings_per_s": rates[0], "references_per_s": rates[1]}
    figures.update(speeds)
    assert speeds["mappings_per_s"] >= 100 and speeds["references_per_s"] >= 1000, done.stdout

    ctx = manifest["operational"]
    secs, _ = timed(inv, "manage", "--server", BIG, "--", "set_context", "--operational", ctx)
    figures["set_context_s"] = round(secs, 1)
    refs = rpc(URLS[BIG], "get_reference_names", [ctx], timeout=600)
    assert len(refs) == manifest["operational_references"]

    # Latencies: the same calls on this catalog and on the demo one.
    small_ctx = rpc(URLS[SMALL], "get_default_context", ["hst"])
    small_refs = rpc(URLS[SMALL], "get_reference_names", [small_ctx])
    calls = {
        "get_server_info": ([], []),
        "get_file_info_map (the context's references)": (
            ["hst", refs, ["size", "sha1sum"]], ["hst", small_refs, ["size", "sha1sum"]]),
        "get_mapping_names": ([ctx], [small_ctx]),
        "get_best_references": ([ctx, HEADER, ["biasfile", "darkfile"]],
                                [small_ctx, HEADER, ["darkfile"]]),
    }
    figures["latency_ms"] = {
        method.split()[0] + (" (20,000)" if "context's" in method else ""): {
            "scale": round(1000 * latency(URLS[BIG], method.split()[0], big_p), 1),
            "demo": round(1000 * latency(URLS[SMALL], method.split()[0], small_p), 1)}
        for method, (big_p, small_p) in calls.items()}
    figures["catalog_files"] = {"scale": len(rpc(URLS[BIG], "get_file_info_map",
                                                 ["hst", None, ["size"]], timeout=600)),
                                "demo": len(rpc(URLS[SMALL], "get_file_info_map",
                                                ["hst", None, ["size"]]))}

    # The real client syncs the 20,000-reference context and checks every file.
    cache = CACHE / "scale" / "client"
    subprocess.run(["rm", "-rf", str(cache)], check=True)
    env = {**ENV, "CRDS_SERVER_URL": URLS[BIG], "CRDS_PATH": str(cache),
           "CRDS_OBSERVATORY": "hst", "REQUESTS_CA_BUNDLE": str(CA), "SSL_CERT_FILE": str(CA)}
    secs, sync = timed(subprocess.run, [str(VENV_BIN / "crds"), "sync", "--contexts", ctx,
                                        "--fetch-references", "--check-files"], env=env,
                       capture_output=True, text=True, check=False, timeout=3600)
    figures["crds_sync_context_s"] = round(secs, 1)
    assert sync.returncode == 0 and " 0 errors" in sync.stdout + sync.stderr, sync.stderr[-3000:]
    fetched = {f for _d, _s, files in os.walk(cache / "references" / "hst") for f in files}
    assert fetched == set(refs)  # filed by instrument (instrument subdirectories)
    subprocess.run(["rm", "-rf", str(cache)], check=True)

    for what, args in (("check_no_sha1_s", ["--no-sha1"]), ("check_s", [])):
        secs, done = timed(inv, "check", "--server", BIG, *args, timeout=3600)
        figures[what] = round(secs, 1)
        assert "consistent" in done.stdout, done.stdout
    secs, _ = timed(inv, "backup", "--server", BIG, "--yes", timeout=3600)
    figures["backup_s"] = round(secs, 1)
    secs, _ = timed(inv, "restore", "--server", BIG, "--yes", timeout=3600)
    figures["restore_s"] = round(secs, 1)
    assert big.listening() == {8001} and rpc(URLS[BIG], "get_default_context", ["hst"]) == ctx
    secs, done = timed(inv, "mirror", "--src", BIG, "--dst", DEV, "--yes", timeout=3600)
    figures["mirror_s"] = round(secs, 1)
    figures["mirror_log"] = [ln.strip() for ln in done.stderr.splitlines()
                             if "streaming" in ln or "files (" in ln or "check-files" in ln]
    assert rpc(URLS[DEV], "get_default_context", ["hst"]) == ctx
    assert servers[DEV].check_store(sha1=False)["ok"]
