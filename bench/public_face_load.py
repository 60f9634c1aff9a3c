"""16 clients against one lab server, side by side with 1 client, with and without a
hostile client sending the worst requests the limits let through (and some they refuse).

The mix each client repeats: get_default_context, get_best_references (a real header of
the server's operational context), a download of a mapping, each posted as the crds client
posts (/json/<method>/<id>/). The hostile client runs twice: posting the same way (its batch
calls then go to the crds-batch daemon) and posting to plain /json/ (they stay in the
interactive daemons, where only the library's fair lock keeps them from stalling the
others). Printed: a table of requests per second against the 16 calm clients, bestrefs
p50/p95/p99, the hostile requests and the slowest of them, errors.

    CRDS_LAB_NAME=crdsci CRDS_LAB_BLOCK=7 .venv/bin/python bench/public_face_load.py \
        [--server hst-dev] [--clients 16] [--seconds 20]

tests/ops/test_public_face_lab.py (make test) runs ``load()`` with a 60 s cap.
"""

from __future__ import annotations

import argparse
import json
import ssl
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid

from lab_common import lab_targets, loadavg, report

HEADER = {"INSTRUME": "ACS", "DETECTOR": "WFC", "DATE-OBS": "2020-01-01",
          "TIME-OBS": "00:00:00", "CCDAMP": "ABCD", "CCDGAIN": "2.0"}


def _context(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def _post(url: str, ctx, method: str, params: list, timeout: float = 30, plain: bool = False):
    """One JSON-RPC call as the crds client makes it: POST to /json/<method>/<id>/ (or, with
    ``plain``, to /json/ as the docs show, which the batch daemon's routing never sees)."""
    rpc_id = f"bench-{uuid.uuid4()}"
    body = json.dumps({"jsonrpc": "1.0", "method": method, "params": params,
                       "id": rpc_id}).encode()
    path = "/json/" if plain else f"/json/{method}/{rpc_id}/"
    req = urllib.request.Request(url + path, data=body)  # noqa: S310 - loopback lab
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as reply:  # noqa: S310
        return json.loads(reply.read())


def _get(url: str, ctx, timeout: float = 30) -> int:
    with urllib.request.urlopen(url, timeout=timeout, context=ctx) as reply:  # noqa: S310
        return len(reply.read())


def hostile_requests(obs: str, pmap: str) -> list[tuple[str, list]]:
    """The worst calls of the original probe, as they are answered now: refused at once
    when over a limit, bounded work when within."""
    return [
        ("get_best_references", [pmap, HEADER, [f"t{i}" for i in range(100_000)]]),
        ("list_mappings", [obs, "[" * 20_000]),
        ("list_references", [obs, "*a" * 128]),
        ("list_references", [obs, "[" * 256]),
        ("get_best_references", [pmap, HEADER, [f"t{i}" for i in range(256)]]),
        ("get_best_references", [pmap, {**HEADER, **{f"K{i}": "1" for i in range(4990)}},
                                 ["darkfile"]]),
        ("get_best_references_by_header_map", [pmap, {f"d{i}": HEADER for i in range(1000)},
                                               ["darkfile"]]),
        ("get_file_info_map", [obs, [f"x{i}.fits" for i in range(100_000)], None]),
    ]


def between_cron_bursts(needed: float) -> float:
    """Wait until ``needed`` seconds fit between two bursts of the lab's every-five-minutes
    cron jobs (three on each of eight stand-ins, all on this machine's cores at :00, :05...;
    each server has its own VM in the fleet); returns the seconds waited."""
    quiet_from, period = 45, 300
    into = time.time() % period
    if quiet_from <= into and into + needed <= period - 5:
        return 0.0
    wait = (quiet_from - into) % period
    time.sleep(wait)
    return wait


def load(url: str, ca: str, obs: str, clients: int, seconds: float,
         hostile: bool = False, plain: bool = False) -> dict:
    """``clients`` threads repeating the mix for ``seconds`` (plus one hostile client, posting
    to plain /json/ with ``plain``)."""
    ctx = _context(ca)
    pmap = _post(url, ctx, "get_default_context", [obs, None])["result"]
    mapping = _post(url, ctx, "get_mapping_url", [pmap, pmap])["result"]
    times: dict[str, list[float]] = {"get_default_context": [], "get_best_references": [],
                                     "download": []}
    errors: list[str] = []
    hostile_times: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def one(kind: str, func) -> None:
        start = time.perf_counter()
        try:
            func()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            with lock:
                errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:100]}")
            return
        with lock:
            times[kind].append(time.perf_counter() - start)

    def bestrefs():
        answer = _post(url, ctx, "get_best_references", [pmap, HEADER, ["darkfile"]])
        if answer["error"] or "darkfile" not in answer["result"]:
            raise ValueError(f"bestrefs answered {str(answer)[:100]}")

    def client():
        while time.monotonic() < stop:
            one("get_default_context",
                lambda: _post(url, ctx, "get_default_context", [obs, None])["result"])
            one("get_best_references", bestrefs)
            one("download", lambda: _get(mapping, ctx))

    def attacker():
        worst = hostile_requests(obs, pmap)
        while time.monotonic() < stop:
            for method, params in worst:
                start = time.perf_counter()
                try:
                    _post(url, ctx, method, params, timeout=60, plain=plain)
                except (OSError, urllib.error.URLError, ValueError) as exc:
                    with lock:
                        errors.append(f"hostile {method}: {type(exc).__name__}")
                hostile_times.append(time.perf_counter() - start)
                if time.monotonic() >= stop:
                    break

    threads = [threading.Thread(target=client) for _ in range(clients)]
    if hostile:
        threads.append(threading.Thread(target=attacker))
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    elapsed = time.monotonic() - began

    def pct(values: list[float], p: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    per = {kind: {"n": len(v), "p50_ms": pct(v, 0.50), "p95_ms": pct(v, 0.95),
                  "p99_ms": pct(v, 0.99),
                  "mean_ms": round(statistics.fmean(v) * 1000, 1) if v else None}
           for kind, v in times.items()}
    total = sum(len(v) for v in times.values())
    return {"clients": clients, "hostile": hostile, "plain": plain, "seconds": round(elapsed, 1),
            "requests": total, "rps": round(total / elapsed, 1), "errors": errors[:20],
            "error_count": len(errors), "methods": per,
            "hostile_requests": len(hostile_times),
            "hostile_max_s": round(max(hostile_times), 2) if hostile_times else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="hst-dev")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    target = lab_targets(args.server)[args.server]
    host = target.host
    url = f"https://{host.var('ansible_host')}:{host.var('crds_port')}"
    from fleet.lab import Lab

    ca = str(Lab().ca_bundle)
    obs = host.observatory
    waited = between_cron_bursts(4 * args.seconds + 20)
    if waited:
        print(f"waited {waited:.0f} s for the lab's */5 cron jobs to end")
    runs = {"one": load(url, ca, obs, 1, args.seconds),
            "many": load(url, ca, obs, args.clients, args.seconds),
            "many_hostile": load(url, ca, obs, args.clients, args.seconds, hostile=True),
            "many_hostile_plain": load(url, ca, obs, args.clients, args.seconds,
                                       hostile=True, plain=True)}
    one, many = runs["one"], runs["many"]
    rows = [("1 client", one), (f"{args.clients} clients", many),
            ("+ hostile, client's paths", runs["many_hostile"]),
            ("+ hostile, plain /json/", runs["many_hostile_plain"])]
    table = [f"| run | req/s | vs {args.clients} calm | bestrefs p50 / p95 / p99 ms | hostile n | "
             "slowest hostile s | errors |", "|---|---|---|---|---|---|---|"]
    for label, r in rows:
        b = r["methods"]["get_best_references"]
        table.append(f"| {label} | {r['rps']} | {r['rps'] / many['rps']:.2f}x | "
                     f"{b['p50_ms']} / {b['p95_ms']} / {b['p99_ms']} | "
                     f"{r['hostile_requests'] or ''} | {r['hostile_max_s'] or ''} | "
                     f"{r['error_count']} |")
    print("\n".join(table))
    bh = runs["many_hostile"]["methods"]["get_best_references"]
    summary = (f"{args.server}: {args.clients} clients {many['rps']} req/s "
               f"({many['rps'] / one['rps']:.2f}x one client); with a hostile client "
               f"{runs['many_hostile']['rps']} req/s = "
               f"{runs['many_hostile']['rps'] / many['rps']:.2f}x (bestrefs p99 "
               f"{bh['p99_ms']} ms), posting to plain /json/ "
               f"{runs['many_hostile_plain']['rps']} req/s; load {loadavg()}")
    report("public_face_load", {"server": args.server, "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
