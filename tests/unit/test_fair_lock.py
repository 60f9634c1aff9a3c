"""The crds library's lock (crds_server.locks.FairRLock): a thread that takes it again and
again (a batch bestrefs call, one dataset per turn) lets a waiter in at its next turn."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from fleet.paths import ROOT

sys.path.insert(0, str(ROOT / "app"))
from crds_server.locks import FairRLock  # noqa: E402


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_waiter_gets_the_lock_at_the_batchs_next_turn():
    lock = FairRLock()
    turns: list[int] = []
    started = threading.Event()
    stop = threading.Event()

    def batch():
        for i in range(3000):
            with lock:
                turns.append(i)
                started.set()
                _busy(0.001)
            if stop.is_set():
                return

    worker = threading.Thread(target=batch)
    worker.start()
    started.wait(5)
    waits = []
    for _ in range(20):
        before = len(turns)
        start = time.perf_counter()
        with lock:
            waits.append((len(turns) - before, time.perf_counter() - start))
        time.sleep(0.002)
    stop.set()
    worker.join(10)
    # A waiter is let in after at most the turn in progress and the next one.
    assert max(n for n, _ in waits) <= 2, waits
    assert max(s for _, s in waits) < 0.5, waits


def test_it_is_reentrant_and_refuses_a_release_by_another_thread():
    lock = FairRLock()
    with lock, lock:
        errors = []

        def other():
            try:
                lock.release()
            except RuntimeError as exc:
                errors.append(str(exc))

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert errors and "does not hold" in errors[0]
    got = threading.Event()
    t = threading.Thread(target=lambda: (lock.acquire(), got.set(), lock.release()))
    t.start()
    t.join(5)
    assert got.is_set()  # both levels were released


def test_release_without_acquire_is_an_error():
    with pytest.raises(RuntimeError):
        FairRLock().release()
