"""Small terminal helpers shared by the tasks: confirmation and tables."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence


def confirm(question: str, assume_yes: bool = False) -> bool:
    """Ask ``question``; True only on an explicit yes. Never asks when not a terminal."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], title: str | None = None,
          ) -> None:
    """Print rows as a table (rich when available)."""
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is in the suite venv
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
        if title:
            print(title)
        for row in [list(columns), *rows]:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
        return
    out = Table(title=title, show_lines=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*row)
    Console(width=max(160, Console().width)).print(out)
