"""Which mirror directions are allowed: downward only.

State flows ops -> test -> dev, and ops -> the I&T strings; a restore (a server
mirrored to itself) is allowed everywhere, ops included. Anything else is refused
before anything changes, with the rule in the message. The frozen I&T servers are
a destination only with ``force``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.inventory import Host

#: (source use, destination use) pairs that go downward.
DOWNWARD = frozenset({
    ("ops", "test"), ("ops", "dev"), ("test", "dev"),
    ("ops", "bit"), ("ops", "cit"),
})

RULE = (
    "mirroring goes downward only: ops -> test -> dev and ops -> bit/cit (I&T, with --force), "
    "within one observatory; a server may always be restored from its own backup"
)


class MirrorRefused(ValueError):
    """A mirror that would send state the wrong way (or across observatories)."""


@dataclass(frozen=True)
class MirrorDirection:
    src: Host
    dst: Host

    @property
    def is_restore(self) -> bool:
        return self.src.hostname == self.dst.hostname


def check_mirror(src: Host, dst: Host, *, force: bool = False) -> MirrorDirection:
    """Allow ``src -> dst`` or raise MirrorRefused naming the rule."""
    direction = MirrorDirection(src, dst)
    for host in (src, dst):
        if not host.is_server:
            raise MirrorRefused(f"{host.name} is not an Apache CRDS server; {RULE}")
    if direction.is_restore:
        return direction
    if src.observatory != dst.observatory:
        raise MirrorRefused(
            f"refused {src.name} -> {dst.name}: different observatories; {RULE}"
        )
    if (src.use, dst.use) not in DOWNWARD:
        raise MirrorRefused(f"refused {src.name} -> {dst.name}: not downward; {RULE}")
    if dst.var("crds_frozen", False) and not force:
        raise MirrorRefused(
            f"refused {src.name} -> {dst.name}: {dst.name} is a frozen I&T server; "
            "pass --force to overwrite it"
        )
    return direction
