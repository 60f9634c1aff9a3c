"""Affected datasets between two contexts: grouped engine vs crds's per-dataset loop.

    .venv/bin/python bench/affected_datasets.py [--obs hst] [--sizes 10000,100000,814000]
                                                [--baseline-sample 3000]

For each size: seed HST rules (crds_server.seeding, 6 contexts), generate that many
synthetic datasets in the STAND-IN archive database, and time
``crds_server.repro.affected_datasets`` between the last two contexts (grouped, the fast
path).  The baseline is crds's own ``bestrefs --affected-datasets`` loop (one
``BestrefsScript.process`` per dataset, mode="per-dataset") MEASURED ON A SAMPLE of
datasets and EXTRAPOLATED linearly to the full size; both read headers from the same
stand-in service, so neither pays the archive RPCs of the real servers.  Prints a table
and writes bench/results/affected_datasets.json (+ a PNG when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from crds_server.archive import StandInDatasetService, generate_datasets  # noqa: E402
from crds_server.repro import affected_datasets  # noqa: E402
from crds_server.seeding import generate  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def run(obs: str, sizes: list[int], sample: int, workdir: Path) -> dict:
    cache = workdir / "cache"
    man = generate(obs, cache, contexts=6)
    old, new = man["history"][-2][1], man["history"][-1][1]
    rows = []
    for size in sizes:
        db = workdir / f"{obs}_{size}.sqlite3"
        t0 = time.perf_counter()
        generate_datasets(cache, db, size, seed=2024)
        gen_s = time.perf_counter() - t0
        with StandInDatasetService(db) as svc:
            t0 = time.perf_counter()
            fast = affected_datasets(svc, old, new, cache=cache)
            fast_s = time.perf_counter() - t0
            assert not fast.failure, fast.log_text[-2000:]
            ids = [i for instr in svc.instruments() for i in svc.dataset_ids(instr)]
            picked = sorted(random.Random(size).sample(ids, min(sample, len(ids))))
            # fixed cost of a run (diff, id listing) without any dataset, then the sample
            t0 = time.perf_counter()
            affected_datasets(svc, old, new, cache=cache, mode="per-dataset", only_ids=[])
            fixed_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            base = affected_datasets(svc, old, new, cache=cache, mode="per-dataset",
                                     only_ids=picked)
            base_sample_s = time.perf_counter() - t0
            # the same sample through the grouped engine must agree (the proof lives in
            # tests/app/test_repro.py; this is a sanity check of the run)
            check = affected_datasets(svc, old, new, cache=cache, only_ids=picked)
            assert check.affected_ids == base.affected_ids
        # the baseline evaluates only datasets of affected instruments, like the grouped run
        candidates = fast.datasets
        per_dataset = max(base_sample_s - fixed_s, 0.0) / max(base.datasets, 1)
        base_s = fixed_s + per_dataset * candidates
        rows.append({
            "datasets": size, "candidates": candidates, "affected_products": fast.count,
            "affected_exposures": len(fast.affected_datasets), "bestrefs_cases": fast.cases,
            "errors": fast.errors, "generate_s": round(gen_s, 2),
            "grouped_s": round(fast_s, 2), "grouped_rate_per_s": round(size / fast_s),
            "baseline_sample": base.datasets, "baseline_sample_s": round(base_sample_s, 2),
            "baseline_fixed_s": round(fixed_s, 2),
            "baseline_s_extrapolated": round(base_s, 1),
            "baseline_rate_per_s": round(1 / per_dataset) if per_dataset else None,
            "ratio_baseline_over_grouped": round(base_s / fast_s, 1),
        })
        print(f"  {size:>8,} datasets done: grouped {fast_s:.1f} s", flush=True)
    return {"observatory": obs, "old_context": old, "new_context": new,
            "affected_types": fast.affected_types, "rows": rows}


def table(res: dict) -> str:
    head = (f"{'datasets':>9} {'candid.':>8} {'affected':>8} {'cases':>5} {'grouped s':>9} "
            f"{'rate/s':>8} {'baseline s*':>11} {'rate/s':>6} {'ratio':>7}")
    lines = [head, "-" * len(head)]
    for r in res["rows"]:
        lines.append(f"{r['datasets']:>9,} {r['candidates']:>8,} {r['affected_products']:>8,} "
                     f"{r['bestrefs_cases']:>5} {r['grouped_s']:>9.2f} "
                     f"{r['grouped_rate_per_s']:>8,} {r['baseline_s_extrapolated']:>11.1f} "
                     f"{r['baseline_rate_per_s']:>6,} {r['ratio_baseline_over_grouped']:>6.1f}x")
    lines.append("* baseline = crds's per-dataset bestrefs loop, MEASURED ON A SAMPLE (~"
                 f"{res['rows'][0]['baseline_sample']:,} datasets of the affected instruments "
                 "per size)\n  and EXTRAPOLATED: fixed cost of a run + per-dataset time x "
                 "candidates; it was not run in full.\n  candid. = datasets of the affected "
                 "instruments; cases = bestrefs evaluations of the grouped run.\n  Goal: "
                 "814,000 datasets in <= 180 s.")
    return "\n".join(lines)


def ascii_curve(res: dict, width: int = 50) -> str:
    """Time vs dataset count, as text (log-free bars, longest = width)."""
    top = max(max(r["baseline_s_extrapolated"], r["grouped_s"]) for r in res["rows"])
    out = ["time vs datasets (G = grouped, B = baseline extrapolated)"]
    for r in res["rows"]:
        for tag, sec in (("G", r["grouped_s"]), ("B", r["baseline_s_extrapolated"])):
            bar = "#" * max(1, round(width * sec / top))
            out.append(f"{r['datasets']:>9,} {tag} {bar} {sec:.1f} s")
    return "\n".join(out)


def plot(res: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    xs = [r["datasets"] for r in res["rows"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(xs, [r["grouped_s"] for r in res["rows"]], "o-", label="grouped (measured)")
    ax.plot(xs, [r["baseline_s_extrapolated"] for r in res["rows"]], "s--",
            label="per-dataset crds loop (extrapolated)")
    ax.set_xlabel("datasets")
    ax.set_ylabel("seconds")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--obs", default="hst", choices=["hst", "jwst"])
    ap.add_argument("--sizes", default="10000,100000,814000")
    ap.add_argument("--baseline-sample", type=int, default=3000)
    ap.add_argument("--out", default=str(RESULTS / "affected_datasets.json"))
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"affected datasets bench: {args.obs}, sizes {sizes}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_affected_") as tmp:
        res = run(args.obs, sizes, args.baseline_sample, Path(tmp))
    res["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                      "platform": platform.platform()}
    res["note"] = ("baseline_s_extrapolated = baseline_fixed_s + per-dataset time measured "
                   "on baseline_sample datasets x candidates (crds's per-dataset loop, "
                   "extrapolated, not run in full); grouped_s measured in full. Both single "
                   "process, headers from the same SQLite stand-in (no archive RPCs).")
    print(f"\n{res['observatory']} {res['old_context']} --> {res['new_context']}, "
          f"affected types {res['affected_types']}\n")
    print(table(res))
    print()
    print(ascii_curve(res))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    png = out.with_suffix(".png")
    print(f"\nwrote {out}" + (f" and {png}" if plot(res, png) else
                              " (no PNG: matplotlib is not installed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
