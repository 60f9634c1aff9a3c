"""What every task's command line shares: the task decorator (long flags only), the help
of the flags every task has, the fleet a task acts on, confirmation, and the errors a
person gets instead of a traceback."""

from __future__ import annotations

import functools
import sys

import invoke
from invoke import Exit

from fleet import ui
from fleet.inventory import Inventory, UnknownServer
from fleet.ops.core import OpsError
from fleet.ops.remote import RemoteError
from fleet.paths import VENV_BIN

#: Every task takes its flags spelled out: no automatic one-letter flags, which gave
#: `-d` three meanings (--dry-run, --dst, --diagnostics) in different tasks.
task = functools.partial(invoke.task, auto_shortflags=False)

HELP = {
    "server": "short name, e.g. jwst-dev",
    "inventory": ("which fleet: lab, hst, jwst, hst,jwst or inventory paths (default "
                  "$CRDS_INVENTORY, else the real fleet, as ansible.cfg)"),
    "yes": "do not ask for confirmation",
    "dry_run": "print the plan and change nothing",
    "json": "print the answer as JSON",
    "verbose": "show the full output of Ansible and of the commands on the server",
}
FAILURES = (OpsError, RemoteError, OSError)


def helps(**own: str) -> dict[str, str]:
    """A task's help: the shared flags' texts, plus its own (which may not redefine them)."""
    clash = set(own) & set(HELP) - {"server"}
    assert not clash, f"shared flags keep their shared help: {clash}"
    return {**HELP, **own}


def check_venv() -> None:
    """The tasks drive Ansible from the suite's venv; say how to make it when it is not."""
    if not (VENV_BIN / "ansible-inventory").exists():
        raise Exit("the suite's virtualenv is missing (.venv/bin/ansible-inventory): run "
                   "`make venv` (or `make lab`) first", code=2)


def load_inventory(spec: str | None) -> Inventory:
    check_venv()
    try:
        return Inventory(spec)
    except (FileNotFoundError, RuntimeError) as exc:
        raise Exit(str(exc), code=2) from None


def target(name: str | None, spec: str | None, inv: Inventory | None = None):
    from fleet.ops.service import Target

    if not name:
        raise Exit("name the server: --server <short name> (e.g. jwst-dev)", code=2)
    inv = inv or load_inventory(spec)
    try:
        return Target(inv.server(name), inv.spec)
    except (UnknownServer, OpsError) as exc:
        raise Exit(f"{exc}{_elsewhere(name, inv)}", code=2) from None


def _elsewhere(name: str, inv: Inventory) -> str:
    """A hint when the name belongs to another fleet than the one asked."""
    if any(source.name == "lab" for source in inv.sources):
        return ""
    try:
        Inventory("lab").server(name)
    except Exception:  # noqa: BLE001 - not in the lab either
        return ""
    return f" ({name} is in the lab inventory: add --inventory lab or CRDS_INVENTORY=lab)"


def confirm_or_exit(question: str, yes: bool) -> None:
    if ui.confirm(question, yes):
        return
    if not sys.stdin.isatty():
        raise Exit("refused: no terminal to confirm on; rerun with --yes (or --dry-run to "
                   "see the plan). Nothing was changed.", code=1)
    raise Exit("not confirmed; nothing was changed", code=1)


def show(lines: list[str]) -> None:
    print("\n".join(lines))


def remainder() -> list[str]:
    """The words after `--` on the command line (invoke keeps them out of task args)."""
    argv = sys.argv
    return argv[argv.index("--") + 1:] if "--" in argv else []
