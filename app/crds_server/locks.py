"""A reentrant lock that is handed to its waiters in the order they came.

``threading.RLock`` is not fair: a thread that releases it and asks again at once (a
1000-dataset bestrefs call, between two datasets) usually gets it back before a waiter
wakes, so every other request of that process waits for the whole batch. With this lock
a released lock goes to the longest waiter; a thread that asks again queues behind the
others, so a batch call holds the lock one dataset at a time, interleaved with them."""

from __future__ import annotations

import collections
import threading


class FairRLock:
    """Reentrant, first come first served (FIFO among the threads waiting for it)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._count = 0
        self._waiting: collections.deque[int] = collections.deque()

    def acquire(self) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._count += 1
                return True
            if self._owner is None and not self._waiting:
                self._owner, self._count = me, 1
                return True
            self._waiting.append(me)
            while self._owner is not None or self._waiting[0] != me:
                self._cond.wait()
            self._waiting.popleft()
            self._owner, self._count = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a FairRLock this thread does not hold")
            self._count -= 1
            if self._count == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> FairRLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
