"""`invoke deploy` / `invoke rollback`: app releases in the server's stack.

A release is a stack folder ``${CRDS}/crds_stacks/crds-<app version>-<digest>`` built by
the stack_build role; ``current`` points at the live one. Deploy records the live
release in ``${CRDS}/crds_stacks/.previous_release``, runs playbooks/ops_deploy.yml
(build or reuse, switch, migrate, restart) and checks health; when anything fails it
switches back to the recorded release by itself (playbooks/ops_release.yml).
Rollback switches to the recorded release. Migrations are not reversed: a release that
migrated forward is rolled back onto the migrated schema (Django's additive migrations).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

from fleet.ops.core import ROOT, OpsError, Plan, playbook
from fleet.ops.service import Target

FAILED_MARK = ".deploy-failed"


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def resolve_version(version: str | None) -> tuple[str, str]:
    """(commit, app version) of ``version``: a tag, branch or commit of this repository
    (default HEAD, the checkout's committed app; uncommitted changes are never deployed)."""
    ref = version or "HEAD"
    done = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode:
        raise OpsError(f"no version {ref!r} in this repository: name a tag, branch or commit "
                       "(`git tag -l` lists the tags). Nothing was changed.")
    commit = done.stdout.strip()
    init = git("show", f"{commit}:app/crds_server/__init__.py")
    found = re.search(r"__version__\s*=\s*[\"']([^\"']+)[\"']", init.stdout)
    if init.returncode or not found:
        raise OpsError(f"{ref!r} ({commit[:12]}) has no app/crds_server/__init__.py with a "
                       "__version__: it is not a version of the app. Nothing was changed.")
    return commit, found.group(1)


def uncommitted_app_changes() -> bool:
    return bool(git("status", "--porcelain", "--", "app").stdout.strip())


def current_release(target: Target) -> str | None:
    out = target.remote.sh(f"readlink {shlex.quote(target.paths.stack)} || true").stdout.strip()
    return Path(out).name if out else None


def recorded_release(target: Target) -> str | None:
    out = target.remote.sh(f"cat {shlex.quote(target.paths.stacks)}/.previous_release "
                           "2>/dev/null || true").stdout.strip()
    return out or None


def releases(target: Target) -> list[str]:
    """The releases on the server, newest first, without those a deploy marked failed."""
    out = target.remote.sh(
        f"cd {shlex.quote(target.paths.stacks)} && for r in $(ls -1dt crds-*/ 2>/dev/null); "
        f"do [ -e $r{FAILED_MARK} ] || echo ${{r%/}}; done").stdout.split()
    return out


def switch_release(target: Target, release: str) -> None:
    playbook("ops_release.yml", target.host, target.inventory_spec, {"stack_build_id": release})


def plan_deploy(target: Target, version: str | None, echo: Callable[[str], None]) -> Plan:
    commit, app_version = resolve_version(version)
    label = f"{version or 'HEAD'} ({commit[:12]}, app {app_version})"
    plan = Plan("deploy", target.name)
    facts: dict = {"commit": commit, "app_version": app_version}

    def record():
        facts["recorded_before"] = recorded_release(target)
        facts["previous"] = current_release(target)
        if facts["previous"]:
            target.remote.sh(f"echo {shlex.quote(facts['previous'])} > "
                             f"{shlex.quote(target.paths.stacks)}/.previous_release && chown "
                             f"{target.paths.crds_user} {shlex.quote(target.paths.stacks)}"
                             "/.previous_release")
        echo(f"          live release: {facts['previous'] or 'none'}")

    def install():
        try:
            playbook("ops_deploy.yml", target.host, target.inventory_spec,
                     {"stack_build_app_ref": commit})
        finally:
            facts["release"] = current_release(target)

    def check():
        mode = target.port_mode()
        port = target.paths.backup_port if mode == "backup" else target.paths.port
        info = target.health(port)
        facts["version"] = info.get("server_version")
        echo(f"          {target.name} answers on {port}: release {facts['release']}, app "
             f"{facts['version']}, operational {info.get('operational_context')}")
        if facts["version"] != app_version:
            raise OpsError(f"{target.name} answers with app {facts['version']}, not the "
                           f"deployed {app_version}")

    plan.add("record the live release (for rollback)", record,
             f"{target.paths.stacks}/.previous_release <- readlink {target.paths.stack}")
    plan.add(f"build or reuse the release for {label}; switch `current`; migrate; restart "
             "httpd", install,
             f"ansible-playbook playbooks/ops_deploy.yml -l {target.host.hostname} "
             f"-e stack_build_app_ref={commit}")
    plan.add("health check (get_server_info answers with the new app version)", check)
    plan.notes.append(f"the release is named crds-{app_version}-<requirements digest>: a new "
                      "app version is a new release; the same version again is reinstalled in "
                      "place (rollback then goes to the previous version)")
    plan.notes.append("on any failure the previous release is made current again by itself")
    if not version and uncommitted_app_changes():
        plan.notes.append("app/ has uncommitted changes: they are NOT deployed (commit them, "
                          "or name a version)")
    plan.facts = facts  # type: ignore[attr-defined]
    return plan


def deploy(target: Target, version: str | None, echo: Callable[[str], None]) -> dict:
    plan = plan_deploy(target, version, echo)
    facts = plan.facts  # type: ignore[attr-defined]
    log = target.log
    try:
        plan.execute(echo)
    except Exception as exc:
        previous = facts.get("previous")
        if not previous:
            log.write(f"deploy {version or 'HEAD'} FAILED, nothing to roll back to: {exc}")
            raise
        echo(f"deploy failed: {str(exc)[:500]}\nrolling back to {previous}")
        switch_release(target, previous)
        target.health()
        failed = facts.get("release") if facts.get("release") != previous else None
        # The failed release is never a rollback target: marked, and the record of what
        # to roll back to is what it was before this deploy.
        stacks = shlex.quote(target.paths.stacks)
        if failed:
            target.remote.sh(f"touch {stacks}/{shlex.quote(failed)}/{FAILED_MARK}")
        target.remote.sh(f"echo {shlex.quote(facts.get('recorded_before') or '')} > "
                         f"{stacks}/.previous_release")
        log.write(f"deploy {version or 'HEAD'} FAILED ({str(exc)[:200]}); rolled back to "
                  f"{previous}")
        raise OpsError(f"deploy failed and {target.name} was rolled back to {previous}: "
                       f"{str(exc)[:800]}") from None
    target.remote.sh(f"rm -f {shlex.quote(target.paths.stacks)}/"
                     f"{shlex.quote(facts['release'])}/{FAILED_MARK}")
    log.write(f"deploy {version or 'HEAD'}: {facts.get('previous')} -> {facts['release']} "
              f"(app {facts.get('version')})")
    return facts


def rollback(target: Target, echo: Callable[[str], None]) -> dict:
    live = current_release(target)
    previous = recorded_release(target)
    usable = releases(target)  # without the releases a deploy marked failed
    if not previous or previous == live or previous not in usable:
        others = [r for r in usable if r != live]
        previous = others[0] if others else None
    if not previous:
        raise OpsError(f"{target.name} has no earlier release than {live} to roll back to")
    echo(f"step 1/2: switch {target.name} from {live} to {previous}; restart httpd")
    switch_release(target, previous)
    echo("step 2/2: health check")
    info = target.health()
    target.remote.sh(f"echo {shlex.quote(live or '')} > {shlex.quote(target.paths.stacks)}"
                     "/.previous_release")
    target.log.write(f"rollback {live} -> {previous}")
    return {"from": live, "to": previous, "version": info.get("server_version")}
