"""The cron jobs by hand: `invoke cron.run --server S --job J` and
`invoke nightly --server S`.

Thin: the jobs themselves are the server's `manage.py cron_job <job>` (crds_server.jobs),
called through the same script and environment cron uses (Fabric/ssh, as crds, after
sourcing ~/.setenv); the dev/test stack rebuild is cron/nightly_rebuild.yml (the
stack_build role), the self-tests are fleet.ops's runtests on the backup port. Why the
rebuild runs from here and not from the server's own cron: cron/README.md.
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from datetime import UTC, datetime

from invoke import Collection, Exit

from fleet.cli.common import (
    FAILURES,
    command,
    confirm_or_exit,
    load_inventory,
    set_verbose,
    target,
)
from fleet.ops.core import ansible_failure, echo_err, run_ansible
from fleet.ops.deploy import current_release
from fleet.ops.service import Target
from fleet.ops.service import runtests as run_selftests
from fleet.paths import ROOT, VENV_BIN

JOBS = {"nightly": "nightly.cron.job", "backup": "backup_server",
        "monitor_reprocessing": "monitor_reprocessing",
        "clear_expired_locks": "clear_expired_locks", "track_deliveries": "track_deliveries",
        "sync_ops_to_grp": "sync_ops_to_grp"}
REBUILT = ("dev", "test")


def run_job(t: Target, job: str, echo: bool = True):
    """The job's script as cron runs it: as crds, in ~/.setenv, MAILTO from the inventory."""
    if job not in JOBS:
        raise Exit(f"unknown job {job!r}; jobs: {', '.join(JOBS)}", code=2)
    script = f"{t.paths.crds}/CRDS_server/host/{JOBS[job]}" + (" --echo" if echo else "")
    env = {"MAILTO": t.host.var("crds_mailto", ""),
           "CRDS_GRP_CACHE": t.host.var("crds_grp_cache", "/grp/crds/cache")}
    return t.remote.sh(f"exec /bin/tcsh -c {shlex.quote('source ~/.setenv && exec ' + script)}",
                       user=t.paths.crds_user, env=env, check=False)


def rebuild_stack(t: Target, tag: str, extra: dict | None = None) -> tuple[bool, str]:
    """cron/nightly_rebuild.yml on one dev/test server; (ok, output tail)."""
    import json

    argv = [str(VENV_BIN / "ansible-playbook"), str(ROOT / "cron" / "nightly_rebuild.yml"),
            "-l", t.host.hostname, "-e", json.dumps({"nightly_tag": tag, **(extra or {})})]
    for source in t.inventory_spec.split(","):
        argv += ["-i", source]
    done = run_ansible(argv)
    return done.returncode == 0, ansible_failure(done.stdout + done.stderr)


def mail_failure(t: Target, subject: str, body: str) -> None:
    """Through the server's mail relay (the site config's [mail]), to MAILTO."""
    code = ("import sys; from django.conf import settings; from crds_server.jobs import mail; "
            "mail.send(settings.SITE, mail.recipients(sys.argv[1]), sys.argv[2], sys.stdin.read())")
    t.remote.sh(f"cd {shlex.quote(t.paths.crds)} && {t.paths.stack}/bin/python -c "
                f"{shlex.quote('import django; django.setup(); ' + code)} "
                f"{shlex.quote(t.host.var('crds_mailto', ''))} {shlex.quote(subject)}",
                user=t.paths.crds_user, env=t.paths.django_env, stdin=body)


@command(_name="run", job=f"one of {', '.join(JOBS)}")
def run(c, server, job, yes=False, dry_run=False, inventory=None):
    """Run one cron job now, as cron would (lock, log, failure mail, exit status)."""
    t = target(server, inventory)
    if job not in JOBS:
        raise Exit(f"unknown job {job!r}; jobs: {', '.join(JOBS)}", code=2)
    if dry_run:
        print(f"plan: run {JOBS[job]} on {t.name} as {t.paths.crds_user}, as its crontab "
              "does (~/.setenv, one run at a time, a mail to MAILTO on failure)")
        print("dry run: nothing changed")
        return
    if t.paths.use == "ops":
        confirm_or_exit(f"run the {job} job on the ops server {t.name} now?", yes)
    try:
        result = run_job(t, job)
    except FAILURES as exc:
        raise Exit(f"cron.run: {exc}", code=1) from None
    finally:
        t.close()
    sys.stderr.write(result.stdout + result.stderr)
    if result.exited:
        raise Exit(f"{job} failed on {server} (exit {result.exited}); see "
                   f"{t.host.var('crds_logs', t.paths.crds + '/server/logs')}/{job}.log",
                   code=result.exited)


@command(
    no_rebuild="diagnostics only (dev and test servers rebuild by default)",
    tests="run the self-tests on the backup port after a rebuild (default on)",
    requirement="override a pinned requirement for the rebuild, e.g. numpy==2.4.6 (repeatable)",
    diagnostics="run the diagnostics afterwards (default on; the workstation's schedule "
                "leaves them to the server's 03:05 cron)",
    _iterable=["requirement"])
def nightly(c, server, no_rebuild=False, tests=True, requirement=None, diagnostics=True,
            yes=False, dry_run=False, verbose=False, inventory=None):
    """The nightly job by hand: dev/test: rebuild the stack into a new folder, reinstall,
    restart, self-tests on the backup port; every server: diagnostics mailed to MAILTO."""
    set_verbose(verbose)
    t = target(server, inventory)
    use = t.paths.use
    frozen = bool(t.host.var("crds_frozen", False))
    do_rebuild = use in REBUILT and not frozen and not no_rebuild
    if dry_run or not yes:
        steps = ([f"rebuild the stack into a new folder (cron/nightly_rebuild.yml), switch "
                  f"{t.name} to it, health check; the previous stack comes back on failure"]
                 if do_rebuild else [f"no rebuild ({use}{', frozen' if frozen else ''})"])
        if do_rebuild and tests:
            steps.append(f"self-tests on the backup port {t.paths.backup_port}, then back on "
                         f"{t.paths.port}")
        if diagnostics:
            steps.append("the diagnostics (nightly.cron.job), mailed to MAILTO")
        print(f"plan: nightly on {t.name}\n" + "\n".join(
            f"  step {n}/{len(steps)}: {step}" for n, step in enumerate(steps, 1)))
        if dry_run:
            print("dry run: nothing changed")
            return
        confirm_or_exit(f"run the nightly job on {t.name}?", yes)
    failures: list[str] = []
    try:
        if do_rebuild:
            tag = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            extra = {}
            if requirement:
                extra["stack_build_requirements"] = _override(t, requirement)
            previous = current_release(t)
            echo_err(f"{t.name}: rebuilding the stack into a new folder (tag {tag}; "
                     f"serving {previous or 'no stack'})")
            t.log.write(f"nightly rebuild started (tag {tag}, serving {previous})")
            start = time.monotonic()
            ok, tail = rebuild_stack(t, tag, extra)
            stack = current_release(t)
            if ok:
                echo_err(f"{t.name}: new stack {stack} serving on {t.paths.port} "
                         f"(rebuilt in {time.monotonic() - start:.0f}s)")
                t.log.write(f"nightly rebuild: {stack} serving (was {previous})")
                if tests:
                    passed, output = run_selftests(t, [], echo_err)
                    ran = re.findall(r"^Ran (\d+) tests?", output, re.MULTILINE)
                    summary = (f"self-tests {'passed' if passed else 'FAILED'} on the backup "
                               f"port {t.paths.backup_port} (health check, manage.py test: "
                               f"{ran[-1] if ran else '?'} tests)")
                    echo_err(f"{t.name}: {summary}; back on {t.paths.port}")
                    t.log.write(f"nightly {summary}")
                    if not passed:
                        failures.append(summary + ":\n" + output[-3000:])
            else:
                echo_err(f"{t.name}: stack rebuild failed; {stack} still serving:\n{tail}")
                failures.append(f"stack rebuild failed; the previous stack {stack} still "
                                "serves:\n" + tail)
                t.log.write(f"nightly rebuild FAILED; {stack} still serving")
            if failures:
                mail_failure(t, f"FAILED: CRDS {t.paths.observatory} {use} nightly rebuild on "
                             f"{t.name}", "\n\n".join(failures) + "\n")
        if diagnostics:
            echo_err(f"{t.name}: diagnostics")
            result = run_job(t, "nightly")
            sys.stderr.write(result.stdout + result.stderr)
            if result.exited:
                failures.append(f"diagnostics failed (exit {result.exited})")
    except FAILURES as exc:
        raise Exit(f"nightly: {exc}", code=1) from None
    finally:
        t.close()
    if failures:
        raise Exit(f"nightly on {t.name}: "
                   + "; ".join(f.splitlines()[0].rstrip(":") for f in failures),
                   code=1)


@command(at="minute and hour of the rebuilds (default 35 2: before the servers' own 03:05 "
            "diagnostics, which then report the new stack)")
def workstation(c, inventory=None, at="35 2"):
    """Print the operations workstation's crontab: the nightly rebuild of every dev and test
    server of the inventory (the servers' own cron runs their diagnostics)."""
    inv = load_inventory(inventory)
    minute_hour = at.split()
    if len(minute_hour) != 2 or not all(x.isdigit() for x in minute_hour):
        raise Exit(f"--at {at!r}: give the minute and the hour, e.g. --at '35 2'", code=2)
    names = [h.name for h in inv.servers()
             if h.var("crds_use") in REBUILT and not h.var("crds_frozen", False)]
    if not names:
        raise Exit(f"no dev or test server in {inv.spec}: nothing to schedule", code=1)
    logs = ROOT / ".cache" / "nightly"
    lines = [f"# CRDS nightly stack rebuilds from this workstation ({inv.spec}), one server",
             "# after the other; add to `crontab -e`. Failures are mailed to each server's",
             "# MAILTO; logs in " + str(logs) + ". The real fleet's vault needs a password",
             "# file only you can read: ANSIBLE_VAULT_IDENTITY_LIST=prod@<file> below.",
             "SHELL=/bin/bash",
             f"{at} * * * cd {shlex.quote(str(ROOT))} && mkdir -p {logs} && for s in "
             f"{' '.join(names)}; do CRDS_INVENTORY={shlex.quote(inv.spec)} {VENV_BIN}/invoke "
             f"nightly --server $s --no-diagnostics --yes >> {logs}/$s.log 2>&1; done"]
    print("\n".join(lines))


SPLIT = "----crds-cron-mail----"


@command()
def mail(c, server, inventory=None):
    """Whom the server's cron mails reach, as installed on the server (crontab, .setenv, site
    config): job failures and nightly diagnostics, affected datasets, and the relay."""
    import tomllib

    from fleet import ui

    t = target(server, inventory)
    user = shlex.quote(t.paths.crds_user)
    try:
        out = t.remote.sh(
            f"crontab -l -u {user} 2>/dev/null; echo {SPLIT}; "
            f"cat \"$(getent passwd {user} | cut -d: -f6)/.setenv\"; echo {SPLIT}; "
            f"cat {shlex.quote(t.paths.site_config)}").stdout
    except FAILURES as exc:
        raise Exit(f"cron.mail: {exc}", code=1) from None
    finally:
        t.close()
    crontab, setenv, config = (out.split(SPLIT + "\n") + ["", ""])[:3]
    mailto = re.search(r"^MAILTO=(.*)$", crontab, re.M)
    affected = re.search(r'^setenv CRDS_AFFECTED_DATASETS_RECIPIENTS "(.*)"$', setenv, re.M)
    relay = tomllib.loads(config).get("mail", {}) if config.strip() else {}
    ui.table(["mail", "to"], [
        ["cron job failures, nightly diagnostics (MAILTO)",
         mailto.group(1) if mailto else "(no crontab)"],
        ["affected datasets after a context change", affected.group(1) if affected else "(none)"],
        ["sent through", f"{relay.get('relay', '?')}:{relay.get('port', '?')} from "
                         f"{relay.get('from', '?')}"]], title=f"{t.name}: its cron mail")


def _override(t: Target, pins: list[str]) -> list[str]:
    current = list(t.host.var("stack_build_requirements", []) or _role_requirements())
    names = {p.split("==")[0].lower() for p in pins}
    return [r for r in current if r.split("==")[0].lower() not in names] + list(pins)


def _role_requirements() -> list[str]:
    import yaml

    defaults = yaml.safe_load((ROOT / "roles/stack_build/defaults/main.yml").read_text())
    return defaults["stack_build_requirements"]


ns = Collection("cron")
ns.add_task(run)
ns.add_task(workstation)
ns.add_task(mail)
TASKS = [nightly]
