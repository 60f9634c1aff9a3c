"""What the host checks of the lab tests (tests/roles) and of the role scenarios
(molecule/*/tests, which find this module on pytest's path) read the same way."""

from __future__ import annotations

import re

SU_CRDS = frozenset({"/bin/su - crds", "/usr/bin/su - crds"})
CRDS_SERVICES = frozenset(f"/bin/systemctl {verb} crds-httpd memcached"
                          for verb in ("start", "stop", "restart", "status"))


def sudo_rules(listing: str) -> list[tuple[str, bool, set[str]]]:
    """(run-as, without a password, commands) of each rule in ``sudo -l -U <user>``."""
    rules = []
    for line in listing.split("may run the following commands", 1)[-1].splitlines():
        found = re.match(r"\s+\((\S+?)(?: : \S+)?\)\s+(NOPASSWD: )?(.+)$", line)
        if found:
            rules.append((found.group(1), bool(found.group(2)),
                          set(found.group(3).strip().split(", "))))
    return rules


def as_root(rules: list[tuple[str, bool, set[str]]], *, nopasswd_only: bool = False) -> set[str]:
    """The commands the rules let the user run as root."""
    return set().union(*[cmds for who, nopw, cmds in rules
                         if who in ("root", "ALL") and (nopw or not nopasswd_only)])
