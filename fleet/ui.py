"""Small terminal helpers shared by the tasks: confirmation, tables, a live progress line."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager


def confirm(question: str, assume_yes: bool = False) -> bool:
    """Ask ``question``; True only on an explicit yes. Never asks when not a terminal."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], title: str | None = None,
          stderr: bool = False) -> None:
    """Print rows as a table (rich when available); on stderr when stdout carries data."""
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is in the suite venv
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
        stream = sys.stderr if stderr else sys.stdout
        if title:
            print(title, file=stream)
        for row in [list(columns), *rows]:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=stream)
        return
    out = Table(title=title, show_lines=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*row)
    Console(width=max(160, Console().width), stderr=stderr).print(out)


class Live:
    """What a live line shows: a label, and the time since it began."""

    def __init__(self, label: str):
        self.label, self.began = label, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def text(self) -> str:
        return f"{self.label} · {self.elapsed():.0f}s"


@contextmanager
def live(label: str, refresh: Callable[[Live], str] | None = None) -> Iterator[Live]:
    """A line on the terminal that shows ``label`` and the seconds elapsed, redrawn every
    second until the block ends (the lines printed meanwhile scroll above it). Nothing
    when stderr is not a terminal: logs and pipes get the plain lines alone."""
    state = Live(label)
    if not sys.stderr.isatty():
        yield state
        return
    from rich.console import Console

    console = Console(stderr=True)
    stop = threading.Event()
    with console.status(state.text(), spinner="dots") as status:
        def tick() -> None:
            while not stop.wait(1.0):
                status.update(refresh(state) if refresh else state.text())

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield state
        finally:
            stop.set()
            ticker.join()
