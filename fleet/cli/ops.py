"""Operations on the Apache CRDS servers: the seeds' ./install ./rerun ./runtests ./manage,
tools/backup_server, restore_server, mirror_server and the cache checks.

Thin by rule: parse, confirm, call fleet.ops (Fabric and the ops playbooks), report.
Every destructive task prints its plan with --dry-run, asks unless --yes (and refuses
without a terminal), and appends what it did to the server's operations log.
"""

from __future__ import annotations

import json as jsonlib
import shlex
import sys

from invoke import Exit, task

from fleet import ui
from fleet.inventory import Inventory, UnknownServer
from fleet.ops import backup as backup_ops
from fleet.ops import deploy as deploy_ops
from fleet.ops.core import OpsError, echo_err
from fleet.ops.mirror import Mirror
from fleet.ops.remote import RemoteError
from fleet.ops.service import Target
from fleet.ops.service import runtests as run_selftests
from fleet.ops.service import status as server_status
from fleet.policy import MirrorRefused

INV_HELP = ("inventory: lab, hst, jwst, hst,jwst or paths "
            "(default $CRDS_INVENTORY, else the real fleet)")
FAILURES = (OpsError, RemoteError, OSError)


def load_inventory(spec: str | None) -> Inventory:
    try:
        return Inventory(spec)
    except (FileNotFoundError, RuntimeError) as exc:
        raise Exit(str(exc), code=2) from None


def target(name: str | None, spec: str | None, inv: Inventory | None = None) -> Target:
    if not name:
        raise Exit("name the server: --server <short name> (e.g. jwst-dev)", code=2)
    inv = inv or load_inventory(spec)
    try:
        return Target(inv.server(name), inv.spec)
    except (UnknownServer, OpsError) as exc:
        raise Exit(str(exc), code=2) from None


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


# ---------------------------------------------------------------------------- deploy


@task(help={"server": "short name, e.g. jwst-dev", "version": "app version: a git tag, branch "
            "or commit of this repository (default: HEAD, committed code only)",
            "yes": "do not ask", "dry_run": "print the plan and stop", "inventory": INV_HELP})
def deploy(c, server, version=None, yes=False, dry_run=False, inventory=None):
    """Install an app version as a new release, migrate, restart, check; roll back on failure."""
    t = target(server, inventory)
    try:
        plan = deploy_ops.plan_deploy(t, version, echo_err)
    except FAILURES as exc:
        raise Exit(f"deploy: {exc}", code=2) from None
    show(plan.describe())
    if dry_run:
        print("dry run: nothing changed")
        return
    confirm_or_exit(f"deploy app {plan.facts['app_version']} ({version or 'HEAD'}) to "  # type: ignore[attr-defined]
                    f"{t.name}?", yes)
    try:
        facts = deploy_ops.deploy(t, version, echo_err)
    except FAILURES as exc:
        raise Exit(f"deploy: {exc}", code=1) from None
    if facts["previous"] == facts["release"]:
        print(f"{t.name}: release {facts['release']} (app {facts['version']}), the same "
              "release as before: the app was reinstalled in place if it changed")
        return
    print(f"{t.name}: release {facts['release']} (app {facts['version']}); previous "
          f"{facts['previous']} kept for `invoke rollback --server {t.name}`")


@task(help={"server": "short name", "yes": "do not ask", "dry_run": "print the plan and stop",
            "inventory": INV_HELP})
def rollback(c, server, yes=False, dry_run=False, inventory=None):
    """Switch the server back to its previous release and restart it."""
    t = target(server, inventory)
    if dry_run:
        show([f"plan: rollback on {t.name}",
              f"  step 1/2: make the release in {t.paths.stacks}/.previous_release (else the "
              "newest other release) current; restart httpd (playbooks/ops_release.yml)",
              "  step 2/2: health check"])
        print("dry run: nothing changed")
        return
    confirm_or_exit(f"roll {t.name} back to its previous release?", yes)
    try:
        out = deploy_ops.rollback(t, echo_err)
    except FAILURES as exc:
        raise Exit(f"rollback: {exc}", code=1) from None
    print(f"{t.name}: {out['from']} -> {out['to']} (app {out['version']})")


# ---------------------------------------------------------------------------- service


@task(help={"server": "short name", "yes": "do not ask", "dry_run": "print the plan and stop",
            "inventory": INV_HELP})
def rerun(c, server, yes=False, dry_run=False, inventory=None):
    """Restart memcached and crds-httpd (the old ./rerun) and check health."""
    t = target(server, inventory)
    if dry_run:
        show([f"plan: rerun on {t.name}", "  step 1/2: systemctl restart memcached crds-httpd",
              "  step 2/2: health check"])
        return
    confirm_or_exit(f"restart {t.name}?", yes)
    try:
        echo_err("step 1/2: systemctl restart memcached crds-httpd")
        t.systemctl("restart")
        echo_err("step 2/2: health check")
        mode = t.port_mode()
        info = t.health(t.paths.backup_port if mode == "backup" else t.paths.port)
        t.log.write("rerun: memcached and crds-httpd restarted")
    except FAILURES as exc:
        raise Exit(f"rerun: {exc}", code=1) from None
    print(f"{t.name} answers ({mode} port): operational {info['operational_context']}")


@task(help={"server": "short name", "yes": "do not ask", "inventory": INV_HELP},
      )
def runtests(c, server, yes=False, inventory=None):
    """Self-tests on the backup port (manage.py test + health), ALWAYS back on the normal port.

    Extra arguments for manage.py test after `--`.
    """
    t = target(server, inventory)
    if t.paths.use == "ops" and not yes:
        confirm_or_exit(f"{t.name} is an ops server: self-tests change the "
                        "port the pipelines use and are not advisable there. Run them anyway?", yes)
    try:
        t.log.write("runtests started (backup port)")
        ok, output = run_selftests(t, remainder(), echo_err)
        t.log.write(f"runtests {'passed' if ok else 'FAILED'}; back on the normal port")
    except FAILURES as exc:
        raise Exit(f"runtests: {exc}", code=1) from None
    print(output[-4000:])
    if not ok:
        raise Exit(f"runtests: self-tests failed on {t.name} (it is back on its normal port)",
                   code=1)


@task(help={"server": "short name", "inventory": INV_HELP})
def manage(c, server, inventory=None):
    """manage.py as crds with the server's site config: invoke manage --server S -- <args>."""
    args = remainder()
    if not args:
        raise Exit("give manage.py's arguments after --, e.g. "
                   "invoke manage --server jwst-dev -- check_store --json", code=2)
    t = target(server, inventory)
    try:
        result = t.manage(args, check=False)
        t.log.write("manage " + shlex.join(args) + f" -> exit {result.exited}")
    except FAILURES as exc:
        raise Exit(f"manage: {exc}", code=1) from None
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.exited:
        raise Exit(code=result.exited)


def _age(seconds) -> str:
    if seconds is None:
        return "never"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


@task(help={"server": "one server (default: all)", "json": "a JSON list", "inventory": INV_HELP})
def status(c, server=None, json=False, inventory=None):
    """Every server: up, port mode, contexts, version, disk use, age of the last backup."""
    inv = load_inventory(inventory)
    hosts = [inv.server(server)] if server else [h for h in inv.servers() if h.is_server]
    rows = []
    for host in hosts:
        t = Target(host, inv.spec)
        try:
            rows.append(server_status(t))
        finally:
            t.close()
    if json:
        print(jsonlib.dumps(rows, indent=1))
        return
    ui.table(["server", "up", "port", "operational", "edit", "version", "release",
              "disk (crds/cache/files MB)", "last backup", "note"],
             [[r["name"], "yes" if r["up"] else "NO", r["port_mode"], r["operational_context"],
               r["edit_context"], r["version"], r["release"],
               "/".join(str(round(v / 1e6)) if v is not None else "?"
                        for v in r["disk"].values()) if r["disk"] else "",
               _age(r["last_backup_age_s"]),
               ("UNFINISHED " + r["unfinished"]["operation"] if r["unfinished"] else "")
               + (r["error"] or "")] for r in rows])


@task(help={"server": "short name", "name": "a log to show the end of, e.g. error_log",
            "lines": "how many lines of it (default 50)", "inventory": INV_HELP})
def logs(c, server, name=None, lines=50, inventory=None):
    """The server's logs (${CRDS}/server/logs): list them, or show the end of one."""
    t = target(server, inventory)
    try:
        found = t.agent("logs", root=t.paths.logs, name=name, lines=int(lines))
    except FAILURES as exc:
        raise Exit(f"logs: {exc}", code=1) from None
    finally:
        t.close()
    if name:
        print(f"== {found['root']}/{name} (last {lines} lines)")
        print("\n".join(found["tail"]))
        return
    ui.table(["log", "bytes", "last change (UTC)"],
             [[r["name"], r["bytes"], r["modified"]] for r in found["logs"]],
             title=f"{t.name}: {found['root']}")
    print(f"the end of one: `invoke logs --server {t.name} --name <log>`")


# ---------------------------------------------------------------------------- backup & co


@task(help={"server": "short name", "keep": "dated backups to keep (default crds_backup_keep, 7)",
            "yes": "do not ask", "dry_run": "print the plan and stop", "inventory": INV_HELP})
def backup(c, server, keep=None, yes=False, dry_run=False, inventory=None):
    """Back up the database, catalogs, deliveries, mappings, config and package lists."""
    t = target(server, inventory)
    plan = backup_ops.plan_backup(t, int(keep) if keep is not None else None)
    show(plan.describe())
    if dry_run:
        print("dry run: nothing changed")
        return
    confirm_or_exit(f"back up {t.name} (replaces its latest backup in {t.paths.exchange()})?",
                    yes)
    try:
        plan.execute(echo_err)
    except FAILURES as exc:
        raise Exit(f"backup: {exc}", code=1) from None
    r = plan.result  # type: ignore[attr-defined]
    print(f"{t.name}: backup {r['stamp']} ({r['files']} files, {r['bytes']} bytes) in "
          f"{r['path']} and {r['exchange']}"
          + (f"; removed old {', '.join(r['removed'])}" if r["removed"] else ""))


@task(help={"server": "short name", "json": "a JSON report", "inventory": INV_HELP})
def backups(c, server, json=False, inventory=None):
    """The server's backups: stamp, age, size, app version, whether the manifest verifies."""
    t = target(server, inventory)
    try:
        found = backup_ops.list_backups(t)
    except FAILURES as exc:
        raise Exit(f"backups: {exc}", code=1) from None
    finally:
        t.close()
    if json:
        print(jsonlib.dumps(found, indent=1))
        return
    rows = [[b["stamp"], _age(b["age_s"]), f"{b['bytes'] / 1e6:.1f}", b["app_version"] or "?",
             "yes" if b["verified"] else f"NO: {b['problem']}"] for b in found["dated"]]
    latest = found["latest"]
    if latest:
        rows.append([f"{latest['stamp']} (shared latest)", _age(latest["age_s"]),
                     f"{latest['bytes'] / 1e6:.1f}", latest["app_version"] or "?",
                     "yes" if latest["verified"] else f"NO: {latest['problem']}"])
    if not rows:
        print(f"{t.name}: no backups yet; make one with `invoke backup --server {t.name}`")
        return
    ui.table(["stamp (UTC)", "age", "MB", "app", "manifest verifies"], rows)
    print(f"restore one with `invoke restore --server {t.name} --from <stamp>`")


def _run_mirror(m: Mirror, dry_run: bool, yes: bool, question: str, as_json: bool) -> None:
    show(m.plan().describe())
    if dry_run:
        print("dry run: nothing changed")
        return
    confirm_or_exit(question, yes)
    try:
        report = m.run()
    except FAILURES as exc:
        raise Exit(f"{m.operation}: {exc}", code=1) from None
    if as_json:
        print(jsonlib.dumps(report, indent=1))
        return
    b = report.get("backup", {})
    print(f"{m.operation} {report['src']} -> {report['dst']} done in {report['seconds']}s"
          + (" (resumed)" if report.get("resumed") else ""))
    print(f"  backup: {b.get('server')} {b.get('stamp')} (app {b.get('app_version')})")
    print(f"  contexts: {report.get('contexts')}; {report.get('files')} catalogued files")
    print(f"  synced from {report['src']}: {len(report['synced'])}")
    if report["missing"]:
        print(f"  catalogued but not in the cache (no other server to fetch them from): "
              f"{', '.join(report['missing'][:20])}")
    print(f"  quarantined ({len(report['quarantined'])}) in {report['quarantine_dir']}:")
    for path in report["quarantined"]:
        print(f"    {path}")


@task(help={"server": "short name", "from_": "a dated backup stamp of this server (default: its "
            "latest)", "yes": "do not ask", "dry_run": "print the plan and stop",
            "json": "print the report as JSON", "inventory": INV_HELP})
def restore(c, server, from_=None, yes=False, dry_run=False, json=False, inventory=None):
    """Revert a server to its backup (a mirror to itself) on the backup port throughout."""
    t = target(server, inventory)
    try:
        m = Mirror(t, t, from_stamp=from_, echo=echo_err)
    except (MirrorRefused, OpsError) as exc:
        raise Exit(f"restore: {exc}", code=2) from None
    _run_mirror(m, dry_run, yes, f"restore {t.name} from {m.source_dir}? Rows and files "
                "added since go away (files to quarantine)", json)


@task(help={"src": "source server (short name)", "dst": "destination server",
            "force": "allow a frozen I&T destination", "yes": "do not ask",
            "dry_run": "print the plan and stop", "json": "print the report as JSON",
            "inventory": INV_HELP})
def mirror(c, src, dst, force=False, yes=False, dry_run=False, json=False, inventory=None):
    """Make dst a copy of src's latest backup + src's references (downward only)."""
    inv = load_inventory(inventory)
    s, d = target(src, None, inv), target(dst, None, inv)
    try:
        m = Mirror(s, d, force=force, echo=echo_err)
    except (MirrorRefused, OpsError) as exc:
        raise Exit(f"mirror: {exc}. Nothing was changed.", code=2) from None
    _run_mirror(m, dry_run, yes, f"overwrite {d.name} with {s.name}'s latest backup?", json)


@task(help={"server": "short name", "no_sha1": "sizes only (fast)", "json": "JSON report",
            "inventory": INV_HELP})
def check(c, server, no_sha1=False, json=False, inventory=None):
    """Catalog against file cache: missing files, sha1 mismatches, orphans."""
    t = target(server, inventory)
    try:
        report = t.check_store(sha1=not no_sha1)
    except FAILURES as exc:
        raise Exit(f"check: {exc}", code=1) from None
    if json:
        print(jsonlib.dumps(report, indent=1))
    else:
        print(f"{t.name}: {report['files']} catalogued files: "
              + ("consistent" if report["ok"] else "PROBLEMS"))
        for kind in ("missing", "size_mismatch", "sha1_mismatch", "orphans"):
            if report[kind]:
                print(f"  {kind} ({len(report[kind])}): {', '.join(report[kind][:50])}")
        for why in report.get("broken_contexts", {}).values():
            print(f"  broken context: {why}")
        for pmap, count in report.get("contexts_lacking_references", {}).items():
            print(f"  context {pmap}: {count} references not in the file cache")
    if not report["ok"]:
        raise Exit(code=1)


TASKS = [deploy, rollback, rerun, runtests, manage, status, logs, backup, backups, restore,
         mirror, check]
