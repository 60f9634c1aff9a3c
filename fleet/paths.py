"""Where the suite's own files live."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
VENV_BIN = ROOT / ".venv" / "bin"
INVENTORIES = ROOT / "inventories"
