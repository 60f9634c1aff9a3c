"""Every task's command line, walked from the tasks themselves: no short flag at all (one
letter must never mean --dst here and --dry-run there), and every task that changes a
server or the lab offers --dry-run and --yes."""

from __future__ import annotations

import pytest

from fleet.cli.common import HELP
from tasks import ns

READ_ONLY = {"status", "logs", "backups", "check", "cron.mail", "cron.workstation",
             "lab.status", "lab.ssh", "lab.images", "lab.up"}
TASKS = sorted(ns.task_names)
# Each task's help, read before any get_arguments() (which hands the texts to the flags).
HELPS = {name: dict(ns[name].help) for name in TASKS}


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
    """The flags every task shares have the one help text of fleet/cli/common.py."""
    seen = 0
    for name in TASKS:
        for key, text in HELPS[name].items():
            if key in HELP and key != "server":
                assert text == HELP[key], (name, key, text)
                seen += 1
    assert seen > 30
