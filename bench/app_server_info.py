"""get_server_info latency with a 20,000-file catalog (cold: first call after the catalog
changed; warm: cached download_metadata), against the same server's seeded catalog."""

from __future__ import annotations

import json
import os
import statistics
import urllib.request

from app_common import app_server, manage, report, timed

N_FILES = 20_000
CALLS = 30

BULK = f"""
import hashlib
from crds_server.interactive.models import File
rows = [File(name=f"zb{{i:06d}}_drk.fits", uploaded_as=f"zb{{i:06d}}_drk.fits", observatory="hst",
             instrument="acs", filekind="darkfile", type="reference", size=1000 + i,
             sha1sum=hashlib.sha1(str(i).encode()).hexdigest()) for i in range({N_FILES})]
File.objects.bulk_create(rows, batch_size=2000)
print(File.objects.count())
"""


def call(url: str) -> int:
    body = json.dumps({"jsonrpc": "1.0", "method": "get_server_info", "params": [],
                       "id": "bench"}).encode()
    req = urllib.request.Request(url + "/json/get_server_info/bench/", data=body)  # noqa: S310
    with urllib.request.urlopen(req, timeout=120) as reply:  # noqa: S310 - loopback
        data = reply.read()
    answer = json.loads(data)
    assert answer["error"] is None, answer["error"]
    return len(data)


def latencies(url: str) -> tuple[float, list[float], int]:
    cold, size = timed(call, url)
    warm = [timed(call, url)[0] for _ in range(CALLS)]
    return cold, warm, size


def main() -> None:
    with app_server("hst") as (httpd, site):
        small_cold, small_warm, small_size = latencies(httpd.url)
        done = manage(site, "shell", "-c", BULK)
        n_catalog = int(done.stdout.strip().splitlines()[-1])
        big_cold, big_warm, big_size = latencies(httpd.url)
    big_ms, small_ms = statistics.median(big_warm) * 1000, statistics.median(small_warm) * 1000
    report("app_server_info", {
        "benchmark": f"get_server_info over HTTP, median of {CALLS} warm calls",
        "catalog_files": n_catalog,
        "warm_ms": round(big_ms, 1),
        "cold_ms": round(big_cold * 1000, 1),
        "response_bytes": big_size,
        "baseline_seeded_catalog_files": n_catalog - N_FILES,
        "baseline_warm_ms": round(small_ms, 1),
        "baseline_response_bytes": small_size,
        "ratio_warm_vs_baseline": round(big_ms / small_ms, 2),
        "load_average": os.getloadavg(),
        "summary": f"{n_catalog} files: {big_ms:.1f} ms warm, {big_cold * 1000:.0f} ms cold, "
                   f"{big_size / 1e6:.2f} MB; seeded catalog {small_ms:.1f} ms warm: "
                   f"ratio {big_ms / small_ms:.1f}",
    })


if __name__ == "__main__":
    main()
