"""``field__like``: SQL LIKE with the name patterns people type (``*`` and ``?``), matched by
the database in linear time. ``!`` is the escape character (the same in MariaDB and SQLite,
unlike the backslash), so ``%``, ``_`` and ``!`` in a pattern are taken literally."""

from __future__ import annotations

from django.db.models import CharField, Lookup


def like_pattern(pattern: str) -> str:
    """``hst_*.rmap`` as LIKE ``hst!_%.rmap``; a pattern with no wildcard matches anywhere."""
    escaped = pattern.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    escaped = escaped.replace("*", "%").replace("?", "_")
    return escaped if ("*" in pattern or "?" in pattern) else f"%{escaped}%"


@CharField.register_lookup
class Like(Lookup):
    lookup_name = "like"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs} ESCAPE '!'", [*lhs_params, *rhs_params]
