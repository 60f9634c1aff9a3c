"""Shared by the app benchmarks: a seeded app instance under Apache + mod_wsgi, results."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleet.django_server import Memcached, ModWsgiServer, manage, prepare  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@contextmanager
def app_server(observatory: str = "hst", processes: int = 1, threads: int = 8, setup=None,
               extra_args: tuple[str, ...] = (), **config):
    """A seeded instance served by mod_wsgi-express with a private memcached.

    ``setup(site_config)`` runs before Apache starts (e.g. to ingest more files).
    """
    base = Path(tempfile.mkdtemp(prefix=f"crds-bench-{observatory}-", dir="/tmp"))
    mc = Memcached().start()
    httpd = None
    try:
        site = prepare(base, observatory, f"{observatory}-bench", cache=mc.location, **config)
        if setup:
            setup(site)
        httpd = ModWsgiServer(site, processes=processes, threads=threads,
                              extra_args=extra_args).start()
        yield httpd, site
    finally:
        if httpd:
            httpd.stop()
        mc.stop()
        shutil.rmtree(base, ignore_errors=True)


def rpc(url: str, method: str, *params):
    body = json.dumps({"jsonrpc": "1.0", "method": method, "params": list(params),
                       "id": "bench"}).encode()
    req = urllib.request.Request(url + f"/json/{method}/bench/", data=body)  # noqa: S310
    with urllib.request.urlopen(req, timeout=120) as reply:  # noqa: S310 - loopback
        answer = json.loads(reply.read())
    if answer["error"]:
        raise RuntimeError(answer["error"]["message"])
    return answer["result"]


def timed(func, *args, **kwargs):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def report(name: str, result: dict) -> None:
    """JSON to stdout and bench/results/<name>.json, plus the side-by-side line on stderr."""
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(result, indent=1)
    (RESULTS / f"{name}.json").write_text(text + "\n")
    print(text)
    print(f"{name}: {result['summary']}", file=sys.stderr)


__all__ = ["app_server", "manage", "report", "rpc", "timed"]
