"""Every task's command line, walked from the tasks themselves: no short flag at all (one
letter must never mean --dst here and --dry-run there), and every task that changes a
server or the lab offers --dry-run and --yes."""

from __future__ import annotations

import pytest
from tasks import ns

READ_ONLY = {"status", "logs", "backups", "check", "cron.mail", "cron.workstation",
             "lab.status", "lab.ssh", "lab.images", "lab.up"}
TASKS = sorted(ns.task_names)


def flags(name: str) -> list[tuple[str, ...]]:
    return [arg.names for arg in ns[name].get_arguments()]


def test_the_walk_sees_every_task():
    assert {"deploy", "restore", "mirror", "nightly", "lab.down", "cron.run"} <= set(TASKS)


@pytest.mark.parametrize("name", TASKS)
def test_no_short_flags(name):
    shorts = [n for names in flags(name) for n in names if len(n) == 1]
    assert shorts == [], f"{name} has short flags {shorts}: spell every flag out"


@pytest.mark.parametrize("name", sorted(set(TASKS) - READ_ONLY))
def test_every_changing_task_has_dry_run_and_yes(name):
    longs = {names[0] for names in flags(name)}
    assert {"dry-run", "yes"} <= longs, f"{name} lacks --dry-run or --yes: {sorted(longs)}"


def test_one_meaning_per_flag():
    """The same flag names the same thing everywhere (its help text says so)."""
    meaning: dict[str, set[str]] = {}
    for name in TASKS:
        task = ns[name]
        for arg in task.get_arguments():
            if arg.names[0] in ("dry-run", "yes", "server", "inventory", "json"):
                meaning.setdefault(arg.names[0], set()).add(task.help.get(
                    arg.attr_name, task.help.get(arg.names[0], "")).split(" (")[0].lower())
    for flag, helps in meaning.items():
        assert len(helps) == 1 or flag in ("server", "inventory"), (flag, helps)
