"""Shared by the lab benchmarks: stand-ins of a converged lab reached as fleet.ops does.

Run from the repo root with the lab named, e.g.
``CRDS_LAB_NAME=crdsci CRDS_LAB_BLOCK=7 .venv/bin/python bench/<bench>.py``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app_common import report  # noqa: E402

from fleet.inventory import Inventory  # noqa: E402
from fleet.ops.service import Target  # noqa: E402


def lab_targets(*names: str) -> dict[str, Target]:
    """Targets for the named lab servers (the lab of CRDS_LAB_NAME / CRDS_LAB_BLOCK)."""
    if not os.environ.get("CRDS_LAB_NAME"):
        raise SystemExit("name the lab: CRDS_LAB_NAME=<lab> CRDS_LAB_BLOCK=<n> (a converged lab)")
    inv = Inventory("lab")
    return {n: Target(inv.server(n), inv.spec) for n in names}


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def timed(fn, *args, **kw):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn(*args, **kw)
    return time.perf_counter() - start, result


__all__ = ["ROOT", "lab_targets", "loadavg", "report", "timed"]
