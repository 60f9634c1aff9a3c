"""What every operation shares: a server's paths, plans of steps, the operations log.

A ``Plan`` is a list of named steps. ``--dry-run`` prints it; a real run prints
``step N/M: ...`` lines as it goes and appends what it did to the operations log on
the server (``${CRDS}/server/logs/operations.log``) and locally
(``.cache/oplog/<server>.log``).
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fleet.inventory import Host
from fleet.ops.remote import Remote
from fleet.paths import CACHE, ROOT, VENV_BIN

OPLOG_DIR = CACHE / "oplog"


class OpsError(RuntimeError):
    """An operation that cannot go on; the message says what to do."""


def stamp(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S")


@dataclass(frozen=True)
class ServerPaths:
    """A server's trees and files, from the fleet variables in the inventory."""

    name: str
    hostname: str
    observatory: str
    use: str
    crds: str
    file_cache: str
    server_files: str
    stacks: str
    stack: str
    database_dir: str
    exchange_root: str
    crds_user: str
    crds_group: str
    port: int
    backup_port: int
    fqdn: str
    keep_backups: int

    @classmethod
    def of(cls, host: Host) -> ServerPaths:
        if not host.is_server:
            raise OpsError(f"{host.name} is not an Apache CRDS server (use: {host.use}); "
                           "the django servers run with `invoke run --server <obs>-django`")
        return cls(
            name=host.name, hostname=host.hostname, observatory=host.observatory or "",
            use=host.use or "", crds=host.var("crds_home"),
            file_cache=host.var("crds_file_cache"), server_files=host.var("crds_server_files"),
            stacks=host.var("crds_stacks_dir"), stack=host.var("crds_stack"),
            database_dir=host.var("crds_database_dir"),
            exchange_root=host.var("crds_backup_exchange"),
            crds_user=host.var("crds_user", "crds"), crds_group=host.var("crds_group", "crdsoper"),
            port=int(host.var("crds_port", 8001)),
            backup_port=int(host.var("crds_backup_port", 8002)),
            fqdn=host.var("crds_fqdn", host.hostname) or host.hostname,
            keep_backups=int(host.var("crds_backup_keep", 7)),
        )

    # The server tree.
    @property
    def server_dir(self) -> str:
        return f"{self.crds}/server"

    @property
    def site_config(self) -> str:
        return f"{self.server_dir}/conf/crds_site.toml"

    @property
    def ports_conf(self) -> str:
        return f"{self.server_dir}/conf/ports.conf"

    @property
    def my_cnf(self) -> str:
        return f"{self.database_dir}/my.cnf"

    @property
    def logs(self) -> str:
        return f"{self.server_dir}/logs"

    @property
    def oplog(self) -> str:
        return f"{self.logs}/operations.log"

    @property
    def dated_backups(self) -> str:
        return f"{self.server_dir}/db_backups"

    def exchange(self, server: str | None = None) -> str:
        """The latest backup of ``server`` (this one by default) in the backup exchange:
        ``latest`` in that server's own folder, the only folder it can write there."""
        return f"{self.exchange_root}/{server or self.name}/latest"

    @property
    def staging(self) -> str:
        return f"{self.server_dir}/mirror_staging"

    @property
    def state_file(self) -> str:
        return f"{self.server_dir}/run/ops_state.json"

    @property
    def agent(self) -> str:
        return f"{self.server_dir}/ops/agent.py"

    def quarantine(self, when: str) -> str:
        return f"{self.server_dir}/quarantine/{when}"

    @property
    def ca_cert(self) -> str:
        return "/etc/ssl/crds/ca.crt"

    @property
    def django_env(self) -> dict[str, str]:
        return {"CRDS_SITE_CONFIG": self.site_config,
                "DJANGO_SETTINGS_MODULE": "crds_server.settings",
                "PATH": f"{self.stack}/bin:/usr/local/bin:/usr/bin:/bin"}

    def manage_cmd(self, args: list[str]) -> str:
        return f"{self.stack}/bin/django-admin " + " ".join(shlex.quote(a) for a in args)

    @property
    def trees(self) -> dict[str, str]:
        return {"crds": self.crds, "file_cache": self.file_cache,
                "server_files": self.server_files}

    def remote(self, host: Host) -> Remote:
        return Remote(host, self.crds_user, self.agent)


# ------------------------------------------------------------------ plans


@dataclass
class Step:
    title: str
    run: Callable[[], object]
    detail: str = ""


@dataclass
class Plan:
    """Named steps for one operation on one server (the destination for a mirror)."""

    operation: str
    server: str
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, title: str, run: Callable[[], object], detail: str = "") -> None:
        self.steps.append(Step(title, run, detail))

    def describe(self) -> list[str]:
        lines = [f"plan: {self.operation} on {self.server} ({len(self.steps)} steps)"]
        for n, step in enumerate(self.steps, 1):
            lines.append(f"  step {n}/{len(self.steps)}: {step.title}")
            if step.detail:
                lines.extend(f"      {line}" for line in step.detail.splitlines())
        lines.extend(f"  note: {note}" for note in self.notes)
        return lines

    def execute(self, echo: Callable[[str], None], log: OpLog | None = None,
                start: int = 0) -> list[object]:
        """Run the steps from ``start`` on: a live line (step, server, seconds) while each
        runs on a terminal, a line when each ends, and a table of the times at the end."""
        from fleet import ui

        results, times = [], []
        total = len(self.steps)
        for n, step in enumerate(self.steps, 1):
            if n <= start:
                echo(f"step {n}/{total}: {step.title} (done before, skipped)")
                results.append(None)
                times.append([n, step.title, "done before"])
                continue
            echo(f"step {n}/{total}: {step.title}")
            with ui.live(f"{self.operation} {self.server}: step {n}/{total} {step.title}") as line:
                try:
                    results.append(step.run())
                except Exception as exc:
                    if log:
                        log.write(f"{self.operation} FAILED at step {n}/{total} "
                                  f"({step.title}): {str(exc)[:300]}")
                    times.append([n, step.title, f"FAILED after {line.elapsed():.1f}"])
                    ui.table(["step", "what", "seconds"], times, stderr=True,
                             title=f"{self.operation} on {self.server}")
                    raise
            echo(f"          done in {line.elapsed():.1f}s")
            times.append([n, step.title, f"{line.elapsed():.1f}"])
        if total > 1:
            ui.table(["step", "what", "seconds"], times, stderr=True,
                     title=f"{self.operation} on {self.server}")
        return results


def echo_err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ operations log


class OpLog:
    """Appends lines to the server's operations log and the local copy."""

    def __init__(self, paths: ServerPaths, remote: Remote | None, local_dir: Path = OPLOG_DIR):
        self.paths, self.remote, self.local = paths, remote, local_dir / f"{paths.name}.log"

    def write(self, text: str) -> str:
        who = os.environ.get("SUDO_USER") or getpass.getuser()
        line = f"{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} {who} {text}"
        self.local.parent.mkdir(parents=True, exist_ok=True)
        with open(self.local, "a") as handle:
            handle.write(line + "\n")
        if self.remote is not None:
            try:
                self.remote.agent("oplog", {"path": self.paths.oplog, "line": line,
                                            "owner": self.paths.crds_user,
                                            "group": self.paths.crds_group})
            except Exception as exc:  # the local copy holds it; say so
                with open(self.local, "a") as handle:
                    handle.write(f"  (not written on the server: {exc})\n")
        return line


# ------------------------------------------------------------------ ansible


def verbose() -> bool:
    """--verbose: Ansible's and the server commands' whole output goes to the terminal."""
    return os.environ.get("CRDS_VERBOSE") == "1"


PROD_VAULT_ID = "prod"


def vault_args(inventory_spec: str) -> list[str]:
    """``--vault-id prod@bin/prod-vault-password`` when an inventory holds values encrypted
    under the real fleet's vault id (the lab's id comes from ansible.cfg)."""
    from fleet.inventory import inventory_sources

    marker = f"$ANSIBLE_VAULT;1.2;AES256;{PROD_VAULT_ID}"
    for source in inventory_sources(inventory_spec):
        vault = (source if source.is_dir() else source.parent) / "group_vars/all/vault.yml"
        if vault.exists() and marker in vault.read_text():
            return ["--vault-id", f"{PROD_VAULT_ID}@{ROOT / 'bin' / 'prod-vault-password'}"]
    return []


def vault_hint(output: str) -> str:
    if "Decryption failed" not in output and "prod-vault-password" not in output:
        return ""
    return ("\nthe real fleet's vault could not be opened: the password comes from "
            "~/.config/crds/prod-vault-password (or $CRDS_PROD_VAULT_PASSWORD_FILE); a value "
            "still encrypted under the repository's placeholder key must be replaced first "
            "(README, \"The real fleet's secrets\")")


def run_ansible(argv: list[str]) -> subprocess.CompletedProcess:
    """ansible-playbook, its output kept (and shown as it comes with --verbose)."""
    if not verbose():
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = []
    for line in proc.stdout:
        sys.stderr.write(line)
        lines.append(line)
    return subprocess.CompletedProcess(argv, proc.wait(), "".join(lines), "")


def ansible_failure(output: str) -> str:
    """What failed in an ansible-playbook run: each failing task's name, host and message
    (the last lines when it failed otherwise)."""
    import json
    import re

    task, failures = "?", []
    for line in output.splitlines():
        found = re.match(r"TASK \[(.+?)\] \*", line)
        if found:
            task = found.group(1)
            continue
        found = re.match(r"(?:fatal|failed): \[([^\]]+)\]: (?:FAILED!|UNREACHABLE!) => (\{.*\})",
                         line.strip())
        if found:
            try:
                result = json.loads(found.group(2))
                message = result.get("msg") or result.get("stderr") or str(result)[:300]
                if result.get("stderr") and message != result.get("stderr"):
                    # "non-zero return code" alone says nothing: what the command said
                    tail = [ln.strip()[:200] for ln in str(result["stderr"]).splitlines()
                            if ln.strip() and "is ignored: it is neither" not in ln][-2:]
                    message = f"{message}: {' / '.join(tail)}" if tail else message
            except ValueError:
                message = found.group(2)[:300]
            failures.append(f"task '{task}' failed on {found.group(1)}: {str(message)[:600]}")
    if failures:
        return "\n".join(failures)
    return "\n".join(output.strip().splitlines()[-15:])


def playbook(name: str, host: Host, inventory_spec: str, extra: dict | None = None,
             tags: str | None = None, echo: Callable[[str], None] = echo_err) -> None:
    """Run playbooks/<name> limited to ``host``; raise OpsError naming the failed task."""
    import json

    argv = [str(VENV_BIN / "ansible-playbook"), str(ROOT / "playbooks" / name),
            "-l", host.hostname]
    for source in inventory_spec.split(","):
        argv += ["-i", source]
    argv += vault_args(inventory_spec)
    if extra:
        argv += ["-e", json.dumps(extra)]
    if tags:
        argv += ["--tags", tags]
    done = run_ansible(argv)
    if done.returncode:
        raise OpsError(f"ansible-playbook {name} failed on {host.name}:\n"
                       f"{ansible_failure(done.stdout + done.stderr)}"
                       + vault_hint(done.stdout + done.stderr)
                       + ("" if verbose() else "\n(--verbose shows all of Ansible's output)"))
