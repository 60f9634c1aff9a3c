"""A 100 MB reference downloaded through the app (Apache + mod_wsgi, sendfile) vs the same
file from a static server on loopback (python -m http.server). Goal: ratio >= 0.8."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from app_common import app_server, manage, report

from fleet.django_server import free_port, wait_until_answers

SIZE = 100 * 1024 * 1024
NAME = "zbench100m_drk.fits"
ROUNDS = 7
CHUNK = 8 * 1024 * 1024  # the crds client reads 8 MiB at a time


def fetch(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    total = 0
    with urllib.request.urlopen(url, timeout=300) as reply:  # noqa: S310 - loopback
        while chunk := reply.read(CHUNK):
            total += len(chunk)
    return time.perf_counter() - start, total


def measure(*urls: str) -> list[list[float]]:
    """MB/s per round for each URL, the URLs taking turns so drift hits them alike."""
    for url in urls:
        fetch(url)  # warm the page cache and the server
    rates = [[] for _ in urls]
    for _ in range(ROUNDS):
        for url, out in zip(urls, rates, strict=True):
            seconds, total = fetch(url)
            assert total == SIZE, f"{url}: got {total} bytes, expected {SIZE}"
            out.append(total / seconds / 1e6)
    return rates


def main() -> None:
    tree = Path(tempfile.mkdtemp(prefix="crds-bench-dl-", dir="/tmp"))
    ref = tree / "references" / "hst" / NAME
    ref.parent.mkdir(parents=True)
    with open(ref, "wb") as out:
        out.write(os.urandom(SIZE))

    def ingest(site):
        manage(site, "ingest_cache", str(tree))

    with app_server("hst", setup=ingest) as (httpd, site), \
            app_server("hst", setup=ingest, x_sendfile=True) as (xsf_httpd, _):
        store = site.parent / "file_cache"
        port = free_port()
        static = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
             "--directory", str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_answers(f"http://127.0.0.1:{port}/", timeout=20)
            app_rates, xsf_rates, static_rates = measure(
                f"{httpd.url}/unchecked_get/references/hst/{NAME}",
                f"{xsf_httpd.url}/unchecked_get/references/hst/{NAME}",
                f"http://127.0.0.1:{port}/references/hst/{NAME}")
        finally:
            static.terminate()
            static.wait(10)
    subprocess.run(["rm", "-rf", str(tree)], check=False)
    app_mb, xsf_mb, static_mb = (statistics.median(r) for r in
                                 (app_rates, xsf_rates, static_rates))
    ratio, xsf_ratio = app_mb / static_mb, xsf_mb / static_mb
    report("app_download", {
        "benchmark": f"100 MB reference download, median of {ROUNDS}, interleaved",
        "app_mod_wsgi_file_wrapper_MBps": round(app_mb, 1),
        "app_mod_wsgi_x_sendfile_MBps": round(xsf_mb, 1),
        "baseline_http_server_MBps": round(static_mb, 1),
        "ratio_file_wrapper": round(ratio, 2),
        "ratio_x_sendfile": round(xsf_ratio, 2),
        "goal": 0.8,
        "pass": max(ratio, xsf_ratio) >= 0.8,
        "file_wrapper_rates": [round(r, 1) for r in app_rates],
        "x_sendfile_rates": [round(r, 1) for r in xsf_rates],
        "baseline_rates": [round(r, 1) for r in static_rates],
        "load_average": os.getloadavg(),
        "summary": f"app {app_mb:.0f} MB/s (file_wrapper), {xsf_mb:.0f} MB/s (x_sendfile) vs "
                   f"static {static_mb:.0f} MB/s: ratios {ratio:.2f} / {xsf_ratio:.2f} "
                   "(goal >= 0.8)",
    })


if __name__ == "__main__":
    main()
