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
import time

from invoke import Exit

from fleet import ui
from fleet.cli.common import (
    FAILURES,
    command,
    confirm_or_exit,
    each,
    load_inventory,
    remainder,
    select,
    set_verbose,
    show,
    target,
)
from fleet.ops import backup as backup_ops
from fleet.ops import deploy as deploy_ops
from fleet.ops.core import OpsError, echo_err
from fleet.ops.mirror import Mirror
from fleet.ops.service import Target
from fleet.ops.service import runtests as run_selftests
from fleet.ops.service import status as server_status
from fleet.policy import MirrorRefused

# ---------------------------------------------------------------------------- deploy


@command(version="app version: a git tag, branch or commit of this repository (default: HEAD, "
                 "committed code only)")
def deploy(c, server, version=None, yes=False, dry_run=False, verbose=False, inventory=None):
    """Install an app version as a new release, migrate, restart, check; roll back on failure."""
    set_verbose(verbose)
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


@command()
def rollback(c, server, yes=False, dry_run=False, verbose=False, inventory=None):
    """Switch the server back to its previous release and restart it."""
    set_verbose(verbose)
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


@command()
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


@command()
def runtests(c, server, yes=False, dry_run=False, verbose=False, inventory=None):
    """Self-tests on the backup port (manage.py test + health), ALWAYS back on the normal port.

    Extra arguments for manage.py test after `--`.
    """
    set_verbose(verbose)
    t = target(server, inventory)
    if dry_run:
        show([f"plan: runtests on {t.name}",
              f"  step 1/3: move {t.name} to its backup port {t.paths.backup_port}",
              "  step 2/3: health check, then manage.py test "
              + " ".join(remainder() or ["crds_server.selftests"]),
              f"  step 3/3: back to the normal port {t.paths.port}, whatever happened"])
        print("dry run: nothing changed")
        return
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


@command()
def manage(c, server, yes=False, dry_run=False, inventory=None):
    """manage.py as crds with the server's site config: invoke manage --server S -- <args>."""
    args = remainder()
    if not args:
        raise Exit("give manage.py's arguments after --, e.g. "
                   "invoke manage --server jwst-dev -- check_store --json", code=2)
    t = target(server, inventory)
    if dry_run:
        print(f"plan: on {t.name} as {t.paths.crds_user}: {t.paths.manage_cmd(args)}\n"
              "dry run: nothing changed")
        return
    if t.paths.use == "ops":
        confirm_or_exit(f"run manage.py {shlex.join(args)} on the ops server {t.name}?", yes)
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


def _free(disk: dict) -> str:
    """Free space of each distinct file system of the server's trees, in GB."""
    seen, parts = set(), []
    for key, fs in (disk or {}).items():
        if fs and fs["fs"] not in seen:
            seen.add(fs["fs"])
            parts.append(f"{key} {fs['free'] / 1e9:.1f}/{fs['total'] / 1e9:.0f}")
    return ", ".join(parts)


@command(server="a server, a group or an Ansible pattern (default: every server)",
         timeout="seconds to wait for each server (default 30)")
def status(c, server=None, json=False, timeout=30, inventory=None):
    """Every server: up, port mode, contexts, version, free space, time since the last
    good backup, an unfinished operation."""
    inv = load_inventory(inventory)
    hosts = select(inv, server)

    def one(host):
        t = Target(host, inv.spec)
        try:
            return server_status(t)
        finally:
            t.close()

    rows = each(hosts, one, float(timeout))
    if json:
        print(jsonlib.dumps(rows, indent=1))
        return
    ui.table(["server", "up", "port", "operational", "edit", "version", "release",
              "free GB (of)", "last good backup", "note"],
             [[r["name"], "yes" if r.get("up") else "NO", r.get("port_mode"),
               r.get("operational_context"), r.get("edit_context"), r.get("version"),
               r.get("release"), _free(r.get("disk")), _age(r.get("last_backup_age_s")),
               ("UNFINISHED " + r["unfinished"]["operation"] if r.get("unfinished") else "")
               + (r.get("error") or "")] for r in rows])


@command(name='a log to show the end of, e.g. error_log', lines='how many lines of it (default 50)')
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


@command(keep='dated backups to keep (default crds_backup_keep, 7)')
def backup(c, server, keep=None, yes=False, dry_run=False, verbose=False, inventory=None):
    """Back up the database, catalogs, deliveries, mappings, config and package lists."""
    set_verbose(verbose)
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


@command(server="a server, a group or an Ansible pattern",
         timeout="seconds to wait for each server (default 120)")
def backups(c, server, json=False, timeout=120, inventory=None):
    """The server's backups: stamp, age, size, app version, whether the manifest verifies."""
    inv = load_inventory(inventory)
    hosts = select(inv, server)

    def one(host):
        t = Target(host, inv.spec)
        try:
            return {"name": t.name, **backup_ops.list_backups(t)}
        finally:
            t.close()

    found = each(hosts, one, float(timeout), "list of backups")
    if json:
        print(jsonlib.dumps(found[0] if len(found) == 1 else found, indent=1))
    else:
        for result in found:
            _print_backups(result)
    failed = [r["name"] for r in found if r.get("error")]
    if failed:
        raise Exit(f"backups: no answer from {', '.join(failed)}", code=1)


def _print_backups(found: dict) -> None:
    name = found["name"]
    if found.get("error"):
        print(f"{name}: {found['error']}")
        return
    rows = [[b["stamp"], _age(b["age_s"]), f"{b['bytes'] / 1e6:.1f}", b["app_version"] or "?",
             "yes" if b["verified"] else f"NO: {b['problem']}"] for b in found["dated"]]
    latest = found["latest"]
    if latest:
        rows.append([f"{latest['stamp']} (shared latest)", _age(latest["age_s"]),
                     f"{latest['bytes'] / 1e6:.1f}", latest["app_version"] or "?",
                     "yes" if latest["verified"] else f"NO: {latest['problem']}"])
    if not rows:
        print(f"{name}: no backups yet; make one with `invoke backup --server {name}`")
        return
    ui.table(["stamp (UTC)", "age", "MB", "app", "manifest verifies"], rows, title=name)
    print(f"restore one with `invoke restore --server {name} --from <stamp>`")


def _run_mirror(m: Mirror, dry_run: bool, yes: bool, question: str, as_json: bool,
                abort: bool = False) -> None:
    if abort:
        _abort(m, dry_run, yes, as_json)
        return
    try:
        m.preflight()  # an unfinished run resumed only as it began; the backup is there
    except FAILURES as exc:
        raise Exit(f"{m.operation}: {exc}", code=2) from None
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


def _abort(m: Mirror, dry_run: bool, yes: bool, as_json: bool) -> None:
    try:
        state = m.load_state()
    except FAILURES as exc:
        raise Exit(f"{m.operation} --abort: {exc}", code=1) from None
    if not state:
        raise Exit(f"{m.dst.name} has no unfinished mirror or restore: nothing to abort",
                   code=2)
    print(f"unfinished {state.get('operation')} of {m.dst.name}: `{state.get('command')}`, "
          f"started {time.ctime(state.get('started', 0))}, {state.get('done', 0)} steps done")
    print(f"abort: {m.dst.name} goes back on its normal port {m.dst.paths.port} as it was "
          "before that run (its safety backup "
          f"{state.get('safety') or '(none)'} restored if the run had changed anything)")
    if dry_run:
        print("dry run: nothing changed")
        return
    confirm_or_exit(f"abort the unfinished {state.get('operation')} of {m.dst.name}?", yes)
    try:
        out = m.abort()
    except FAILURES as exc:
        raise Exit(f"{m.operation} --abort: {exc}", code=1) from None
    if as_json:
        print(jsonlib.dumps(out, indent=1, default=str))
        return
    print(f"{m.dst.name}: the {state.get('operation')} is aborted; back on its normal port"
          + (f", as its safety backup {out['restored']} holds it" if out["restored"] else
             ", unchanged"))


@command(from_="a dated backup stamp of this server (default: its latest)",
         abort="end an interrupted restore instead: the server back on its normal port as "
               "it was before it")
def restore(c, server, from_=None, abort=False, yes=False, dry_run=False, json=False,
            verbose=False, inventory=None):
    """Revert a server to its backup (a mirror to itself) on the backup port throughout."""
    set_verbose(verbose)
    t = target(server, inventory)
    try:
        m = Mirror(t, t, from_stamp=from_, echo=echo_err)
    except (MirrorRefused, OpsError) as exc:
        raise Exit(f"restore: {exc}", code=2) from None
    _run_mirror(m, dry_run, yes, f"restore {t.name} from {m.source_dir}? Rows and files "
                "added since go away (files to quarantine)", json, abort)


@command(src="source server (short name)", dst="destination server",
         force="allow a frozen I&T destination",
         abort="end an interrupted mirror instead: dst back on its normal port as it was "
               "before it")
def mirror(c, src, dst, force=False, abort=False, yes=False, dry_run=False, json=False,
           verbose=False, inventory=None):
    """Make dst a copy of src's latest backup + src's references (downward only)."""
    set_verbose(verbose)
    inv = load_inventory(inventory)
    s, d = target(src, None, inv), target(dst, None, inv)
    try:
        m = Mirror(s, d, force=force, echo=echo_err)
    except (MirrorRefused, OpsError) as exc:
        raise Exit(f"mirror: {exc}. Nothing was changed.", code=2) from None
    _run_mirror(m, dry_run, yes, f"overwrite {d.name} with {s.name}'s latest backup?", json,
                abort)


@command(server="a server, a group or an Ansible pattern", no_sha1="sizes only (fast)",
         timeout="seconds to wait for each server (default 3600)")
def check(c, server, no_sha1=False, json=False, timeout=3600, inventory=None):
    """Catalog against file cache: missing files, sha1 mismatches, orphans, broken contexts."""
    inv = load_inventory(inventory)
    hosts = select(inv, server)

    def one(host):
        t = Target(host, inv.spec)
        try:
            return {"name": t.name, **t.check_store(sha1=not no_sha1)}
        finally:
            t.close()

    reports = each(hosts, one, float(timeout), "check")
    if json:
        print(jsonlib.dumps(reports[0] if len(reports) == 1 else reports, indent=1))
    else:
        for report in reports:
            _print_check(report)
    if not all(r.get("ok") for r in reports):
        raise Exit(code=1)


def _print_check(report: dict) -> None:
    if report.get("error"):
        print(f"{report['name']}: check failed: {report['error']}")
        return
    print(f"{report['name']}: {report['files']} catalogued files: "
          + ("consistent" if report["ok"] else "PROBLEMS"))
    for kind in ("missing", "size_mismatch", "sha1_mismatch", "orphans"):
        if report[kind]:
            print(f"  {kind} ({len(report[kind])}): {', '.join(report[kind][:50])}")
    for why in report.get("broken_contexts", {}).values():
        print(f"  broken context: {why}")
    for pmap, count in report.get("contexts_lacking_references", {}).items():
        print(f"  context {pmap}: {count} references not in the file cache")


TASKS = [deploy, rollback, rerun, runtests, manage, status, logs, backup, backups, restore,
         mirror, check]
