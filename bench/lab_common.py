"""Shared by the lab benchmarks: stand-ins of a converged lab reached as fleet.ops does.

Run from the repo root with the lab named, e.g.
``CRDS_LAB_NAME=crdsci CRDS_LAB_BLOCK=7 .venv/bin/python bench/<bench>.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from app_common import ROOT, report, timed  # also puts the repo root on sys.path

from fleet.inventory import Inventory
from fleet.ops.service import Target


def lab_targets(*names: str) -> dict[str, Target]:
    """Targets for the named lab servers (the lab of CRDS_LAB_NAME / CRDS_LAB_BLOCK)."""
    if not os.environ.get("CRDS_LAB_NAME"):
        raise SystemExit("name the lab: CRDS_LAB_NAME=<lab> CRDS_LAB_BLOCK=<n> (a converged lab)")
    inv = Inventory("lab")
    return {n: Target(inv.server(n), inv.spec) for n in names}


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


__all__ = ["ROOT", "lab_targets", "loadavg", "report", "timed"]
