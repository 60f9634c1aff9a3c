"""get_best_references calls per second through the app (real crds client API, HTTP,
Apache + mod_wsgi) vs the same lookups computed locally by the crds library (the
client's local mode) on a synced cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from app_common import app_server, report

from fleet.paths import VENV_BIN

SECONDS = 5.0

WORKER = r'''
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor
import crds
from crds import data_file
from crds.client import api
from crds.core import heavy_client
ctx, seconds, threads, datasets = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
headers = [dict(data_file.get_header(d)) for d in datasets]
local = [heavy_client.hv_best_references(ctx, h) for h in headers]
remote = [api.get_best_references(ctx, h) for h in headers]
assert [{k: v for k, v in r.items()} for r in local] == remote, (local, remote)

def rate(func, threads):
    def loop(_):
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            func(headers[n % len(headers)])
            n += 1
        return n
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(loop, range(threads)))
    return total / (time.perf_counter() - start)

out = {
    "local_1": rate(lambda h: heavy_client.hv_best_references(ctx, h), 1),
    "remote_1": rate(lambda h: api.get_best_references(ctx, h), 1),
    "remote_n": rate(lambda h: api.get_best_references(ctx, h), threads),
}
print(json.dumps(out))
'''


def main() -> None:
    threads = 4
    with app_server("hst", processes=2, threads=4) as (httpd, site):
        seed = site.parent / "server_files" / "seed" / "hst"
        manifest = json.loads((seed / "seed.json").read_text())
        ctx = manifest["operational"]
        datasets = [str(seed / d) for d in manifest["datasets"]]
        cache = Path(tempfile.mkdtemp(prefix="crds-bench-client-", dir="/tmp"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
        env.update(CRDS_PATH=str(cache), CRDS_SERVER_URL=httpd.url, CRDS_OBSERVATORY="hst")
        subprocess.run([str(VENV_BIN / "crds"), "sync", "--contexts", ctx], env=env, check=True,
                       capture_output=True)
        done = subprocess.run([str(VENV_BIN / "python"), "-c", WORKER, ctx, str(SECONDS),
                               str(threads), *datasets], env=env, capture_output=True,
                              text=True, check=False)
        subprocess.run(["rm", "-rf", str(cache)], check=False)
    if done.returncode:
        sys.exit(f"worker failed:\n{done.stderr[-3000:]}")
    rates = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = rates["remote_1"] / rates["local_1"]
    report("app_bestrefs", {
        "benchmark": f"get_best_references, {len(datasets)} seeded HST datasets, "
                     f"{SECONDS:.0f} s per measure",
        "server_calls_per_s_1_client": round(rates["remote_1"], 1),
        f"server_calls_per_s_{threads}_clients": round(rates["remote_n"], 1),
        "baseline_local_library_calls_per_s": round(rates["local_1"], 1),
        "ratio_1_client": round(ratio, 3),
        "server": "mod_wsgi-express, 2 processes x 4 threads, memcached",
        "load_average": os.getloadavg(),
        "summary": f"server {rates['remote_1']:.0f} calls/s (1 client), "
                   f"{rates['remote_n']:.0f} calls/s ({threads} clients) vs local library "
                   f"{rates['local_1']:.0f} calls/s: ratio {ratio:.2f}",
    })


if __name__ == "__main__":
    main()
