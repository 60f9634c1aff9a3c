"""A memcached cache that never takes the server down with it.

memcached only makes the server faster: when it is down or misbehaves every cache
call here answers "miss" (or does nothing), and the first failure is logged once
per process so the log is not flooded at request rate.
"""

from __future__ import annotations

import functools
import logging

from django.core.cache.backends.memcached import PyMemcacheCache

log = logging.getLogger("crds_server.cache")

_MISSES = {
    "get": lambda args, kw: kw.get("default", args[1] if len(args) > 1 else None),
    "get_many": lambda args, kw: {},
    "set_many": lambda args, kw: list(args[0]) if args else [],
    "add": lambda args, kw: False,
    "touch": lambda args, kw: False,
    "has_key": lambda args, kw: False,
}


class TolerantPyMemcacheCache(PyMemcacheCache):
    """Django's PyMemcacheCache with every cache error ignored (and logged once)."""

    _reported = False

    @classmethod
    def _report(cls, location, exc: Exception) -> None:
        if not cls._reported:
            cls._reported = True
            log.warning(
                "memcached at %s is not answering (%s: %s); serving without the cache "
                "(further cache errors in this process are not logged)",
                location, type(exc).__name__, exc,
            )


def _tolerant(name):
    original = getattr(PyMemcacheCache, name)

    @functools.wraps(original)
    def method(self, *args, **kwargs):
        try:
            return original(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any cache failure is a miss
            self._report(self._servers, exc)
            miss = _MISSES.get(name)
            return miss(args, kwargs) if miss else None

    return method


for _name in ("get", "set", "add", "delete", "get_many", "set_many", "delete_many",
              "touch", "incr", "decr", "has_key", "clear"):
    setattr(TolerantPyMemcacheCache, _name, _tolerant(_name))
