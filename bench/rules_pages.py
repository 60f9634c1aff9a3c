"""The rules pages through the app (HTTP, Apache + mod_wsgi) against the crds library
doing the same computation in one process of its own, on a scale-test rules tree
(crds_server.seeding.scale: one rmap per HST type spec, each context 103 mappings):

* the context table of the newest scale context (load it, list instruments, imaps, rmaps)
* the differences between the first and the newest scale context (crds.diff.mapping_diffs,
  which loads both contexts again, as `crds diff` does; and difference() of the loaded
  mappings, which the page calls once per pair and keeps)
* best references for a seeded dataset file uploaded to the page, against `crds bestrefs`
  on the same file, and against crds reading the file and hv_best_references in-process.

First request (cold: the server process loads the mappings) and the median of the next
ones (warm) are reported separately; so is the library's."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from app_common import app_server, manage, report

from fleet.paths import VENV_BIN

REPEATS = 7
SCALE = ("--mappings", "400", "--references", "6000", "--current", "4800")
SERVERLESS = "https://crds-serverless-mode.stsci.edu"

WORKER = r'''
import json, statistics, sys, time
from crds import data_file, diff
from crds.core import heavy_client, rmap
old, new, repeats, dataset, ctx = sys.argv[1:6]
repeats = int(repeats)


def table(name):
    pmap = rmap.get_cached_mapping(name)
    return [(i, imap.basename, k,
             r if isinstance(r, str) else (r.basename, len(r.reference_names())))
            for i, imap in sorted(pmap.selections.items())
            for k, r in sorted(imap.selections.items())]


def loaded_difference(o, n):
    return rmap.get_cached_mapping(o).difference(rmap.get_cached_mapping(n))


def timed(func, *args):
    t = time.perf_counter()
    out = func(*args)
    return time.perf_counter() - t, out


out = {}
for what, func, args in (
        ("context_table", table, (new,)),
        ("difference", lambda o, n: diff.mapping_diffs(o, n, observatory="hst"), (old, new)),
        ("difference_loaded", loaded_difference, (old, new))):
    first, result = timed(func, *args)
    warm = [timed(func, *args)[0] for _ in range(repeats)]
    out[what] = {"first_s": first, "warm_s": statistics.median(warm), "size": len(result)}


def bestrefs(path):   # what the page does with an upload: crds reads it, then selects
    header = data_file.get_free_header.uncached(path, (), None, "hst")
    return heavy_client.hv_best_references(ctx, header)


first, refs = timed(bestrefs, dataset)
warm = [timed(bestrefs, dataset)[0] for _ in range(repeats)]
header = data_file.get_header(dataset, observatory="hst")
lookup = [timed(heavy_client.hv_best_references, ctx, header)[0] for _ in range(repeats)]
out["bestrefs"] = {"first_s": first, "warm_s": statistics.median(warm), "answer": refs,
                   "lookup_only_s": statistics.median(lookup)}
print(json.dumps(out))
'''


def _scale_tree(site: Path) -> None:
    tree = site.parent / "scale_tree"
    manage(site, "seed_scale", str(tree), *SCALE)
    manage(site, "ingest_cache", str(tree), "--quiet")


def _page(session: requests.Session, url: str, **kw) -> tuple[float, requests.Response]:
    start = time.perf_counter()
    reply = session.post(url, timeout=300, **kw) if "data" in kw else session.get(
        url, timeout=300, **kw)
    elapsed = time.perf_counter() - start
    if reply.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {reply.status_code}\n{reply.text[-2000:]}")
    return elapsed, reply


def _server_times(func) -> dict:
    first, reply = func()
    warm = [func()[0] for _ in range(REPEATS)]
    return {"first_s": first, "warm_s": statistics.median(warm), "reply": reply}


def main() -> None:
    with app_server("hst", processes=1, threads=4, setup=_scale_tree) as (httpd, site):
        base = site.parent
        scale = json.loads((base / "scale_tree" / "scale.json").read_text())
        old, new = scale["history"][0][1], scale["operational"]
        seed = base / "server_files" / "seed" / "hst"
        manifest = json.loads((seed / "seed.json").read_text())
        ctx, dataset = manifest["operational"], seed / manifest["datasets"][1]
        session = requests.Session()
        server = {   # the same order as the library's: the table loads the new context
            "context_table": _server_times(lambda: _page(
                session, f"{httpd.url}/context_table/{new}")),
            "difference": _server_times(lambda: _page(
                session, f"{httpd.url}/difference/", params={"old": old, "new": new})),
        }
        form = session.get(f"{httpd.url}/bestrefs/", timeout=60)
        token = form.cookies["csrftoken"]

        def bestrefs_page():
            with open(dataset, "rb") as data:
                return _page(session, f"{httpd.url}/bestrefs/",
                             data={"context": ctx, "csrfmiddlewaretoken": token},
                             files={"dataset": (dataset.name, data)})

        server["bestrefs"] = _server_times(bestrefs_page)

        env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
        local_env = dict(env, CRDS_PATH=str(base / "file_cache"), CRDS_OBSERVATORY="hst",
                         CRDS_MODE="local", CRDS_SERVER_URL=SERVERLESS, CRDS_READONLY_CACHE="1")
        done = subprocess.run([str(VENV_BIN / "python"), "-c", WORKER, old, new, str(REPEATS),
                               str(dataset), ctx], env=local_env, capture_output=True,
                              text=True, check=False)
        if done.returncode:
            sys.exit(f"worker failed:\n{done.stderr[-3000:]}")
        local = json.loads(done.stdout.strip().splitlines()[-1])

        # the real command line on the same file, with a cache synced from this server
        cache = Path(tempfile.mkdtemp(prefix="crds-bench-client-", dir="/tmp"))
        client_env = dict(env, CRDS_PATH=str(cache), CRDS_SERVER_URL=httpd.url,
                          CRDS_OBSERVATORY="hst")
        cli = [str(VENV_BIN / "crds"), "bestrefs", "--files", str(dataset), "--new-context",
               ctx, "--print-new-references"]
        subprocess.run(cli, env=client_env, capture_output=True, check=True)  # syncs rules
        cli_times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(cli, env=client_env, capture_output=True, check=True)
            cli_times.append(time.perf_counter() - start)
        subprocess.run(["rm", "-rf", str(cache)], check=False)

    diffs = server["difference"]["reply"].text
    assert f"{local['difference']['size']} difference" in diffs, "the page and crds disagree"
    for ref in local["bestrefs"]["answer"].values():
        assert ref in server["bestrefs"]["reply"].text, ref

    def pair(what: str) -> dict:
        s, lib = server[what], local[what]
        return {"server_first_s": round(s["first_s"], 4), "server_warm_s": round(s["warm_s"], 4),
                "library_first_s": round(lib["first_s"], 4),
                "library_warm_s": round(lib["warm_s"], 4),
                "ratio_first": round(s["first_s"] / lib["first_s"], 2),
                "ratio_warm": round(s["warm_s"] / lib["warm_s"], 2)}

    result = {
        "benchmark": f"rules pages, scale tree {' '.join(SCALE)}: {old} vs {new} "
                     f"({local['difference']['size']} differences, "
                     f"{local['context_table']['size']} filekind rows); bestrefs of "
                     f"{dataset.name} under {ctx}",
        "context_table": pair("context_table"),
        "difference": {**pair("difference"),
                       "library_difference_of_loaded_mappings_warm_s": round(
                           local["difference_loaded"]["warm_s"], 4)},
        "bestrefs": {**pair("bestrefs"),
                     "library_lookup_only_s": round(local["bestrefs"]["lookup_only_s"], 5),
                     "crds_bestrefs_cli_s": round(statistics.median(cli_times), 3),
                     "ratio_page_warm_to_cli": round(server["bestrefs"]["warm_s"]
                                                     / statistics.median(cli_times), 3)},
        "server": "mod_wsgi-express, 1 process x 4 threads, memcached",
        "repeats": REPEATS,
        "load_average": os.getloadavg(),
    }
    ct, df, br = result["context_table"], result["difference"], result["bestrefs"]
    result["summary"] = (
        f"context table {ct['server_warm_s'] * 1000:.0f} ms vs library "
        f"{ct['library_warm_s'] * 1000:.1f} ms warm (x{ct['ratio_warm']}), first "
        f"{ct['server_first_s']:.2f} s vs {ct['library_first_s']:.2f} s; differences "
        f"{df['server_warm_s'] * 1000:.0f} ms vs {df['library_warm_s'] * 1000:.1f} ms warm "
        f"(x{df['ratio_warm']}), first {df['server_first_s']:.2f} s vs "
        f"{df['library_first_s']:.2f} s; bestrefs page {br['server_warm_s'] * 1000:.0f} ms vs "
        f"`crds bestrefs` {br['crds_bestrefs_cli_s']:.2f} s (in-process read + lookup "
        f"{br['library_warm_s'] * 1000:.1f} ms, lookup alone "
        f"{br['library_lookup_only_s'] * 1000:.2f} ms)")
    report("rules_pages", result)


if __name__ == "__main__":
    main()
