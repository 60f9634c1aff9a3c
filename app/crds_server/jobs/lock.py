"""One run at a time: an exclusive, non-blocking flock on a lock file per job."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class AlreadyRunning(Exception):
    """Another run of the job holds the lock."""


@contextlib.contextmanager
def job_lock(path: Path | str) -> Iterator[Path]:
    """Hold ``path`` locked for the block; raise AlreadyRunning at once when another
    process holds it.  The kernel drops the lock when the holder dies, so a killed run
    never leaves a stale lock behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise AlreadyRunning(f"{path} is held by pid {holder}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)
