"""What every task's command line shares: the task decorator (long flags only), the help
of the flags every task has, the fleet a task acts on, confirmation, and the errors a
person gets instead of a traceback."""

from __future__ import annotations

import functools
import os
import sys

import invoke
from invoke import Exit

from fleet import ui
from fleet.inventory import Inventory, UnknownServer
from fleet.ops.core import OpsError
from fleet.ops.remote import RemoteError, ssh_address
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


def set_verbose(on: bool) -> None:
    """--verbose for everything the task runs (fleet.ops.core reads it)."""
    if on:
        os.environ["CRDS_VERBOSE"] = "1"


def command(_name: str | None = None, _iterable: list[str] | None = None, **own: str):
    """``@command(flag="help", ...)``: a task whose shared flags (HELP) get their shared
    help, and its own flags the help given here (a shared flag's help is not redefined).
    ``_name`` and ``_iterable`` are invoke's task name and iterable flags."""
    import inspect

    clash = set(own) & (set(HELP) - {"server"})
    assert not clash, f"shared flags keep their shared help: {clash}"

    def wrap(fn):
        params = inspect.signature(fn).parameters
        text = {k: v for k, v in HELP.items() if k in params}
        text.update(own)
        extra = {"name": _name} if _name else {}
        if _iterable:
            extra["iterable"] = _iterable
        return task(help=text, **extra)(fn)

    return wrap


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


def select(inv: Inventory, pattern: str | None) -> list:
    """The Apache servers a read-only task looks at: every one, one by short name or
    hostname, or those of a group or an Ansible pattern (`hst_test`, `'jwst:&dev'`)."""
    import subprocess

    servers = [h for h in inv.servers() if h.is_server]
    if not pattern:
        return servers
    try:
        return [inv.server(pattern)]
    except UnknownServer:
        pass
    argv = [str(VENV_BIN / "ansible"), pattern, "--list-hosts"]
    for source in inv.sources:
        argv += ["-i", str(source)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    named = {ln.strip() for ln in done.stdout.splitlines()[1:] if ln.strip()}
    chosen = [h for h in servers if h.hostname in named]
    if not chosen:
        groups = ", ".join(sorted(g for g in inv.groups if "_" in g or g in (
            "hst", "jwst", "ops", "test", "dev", "bit", "cit")))
        raise Exit(f"--server {pattern!r} names no server: give a short name "
                   f"({', '.join(h.name for h in servers)}), a group ({groups}) or an Ansible "
                   "pattern such as 'jwst:&dev'", code=2)
    return chosen


def each(hosts: list, work, timeout: float, what: str = "answer") -> list:
    """``work(host)`` for every host at once; a host that takes longer than ``timeout``
    seconds gets {"name": ..., "error": ...} instead (and does not hold the others up)."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Late

    pool = ThreadPoolExecutor(max_workers=max(1, min(len(hosts), 12)))
    futures = [(h, pool.submit(work, h)) for h in hosts]

    def waiting(line: ui.Live) -> str:
        left = [h.name for h, f in futures if not f.done()]
        return (f"{len(futures) - len(left)}/{len(futures)} servers answered · "
                f"waiting for {', '.join(left[:4])}{' ...' if len(left) > 4 else ''} · "
                f"{line.elapsed():.0f}s")

    out = []
    with ui.live(f"asking {len(futures)} servers", refresh=waiting):
        for host, future in futures:
            try:
                out.append(future.result(timeout=timeout))
            except Late:
                out.append({"name": host.name, "error": f"no {what} within {timeout:.0f}s"})
            except Exception as exc:  # noqa: BLE001 - one server's failure is its row's
                out.append({"name": host.name, "error": (
                    f"{type(exc).__name__} ({ssh_address(host)}): {exc}")[:300]})
    pool.shutdown(wait=False, cancel_futures=True)
    return out
