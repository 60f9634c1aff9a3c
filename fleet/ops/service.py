"""One server: its port mode, httpd + memcached, manage.py, check_store, status, self-tests."""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fleet.inventory import Host
from fleet.ops.core import OpLog, OpsError, ServerPaths, echo_err, playbook
from fleet.ops.remote import Remote, RemoteError, ssh_address

SERVICES = ("memcached", "crds-httpd")
# The app's self-tests of the running server (the real crds client against the backup port).
SELFTESTS = ["crds_server.selftests"]


@dataclass
class Target:
    """A server with its paths, its connection and its operations log."""

    host: Host
    inventory_spec: str
    paths: ServerPaths = field(init=False)
    _remote: Remote | None = field(init=False, default=None)

    def __post_init__(self):
        self.paths = ServerPaths.of(self.host)

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def remote(self) -> Remote:
        if self._remote is None:
            self._remote = self.paths.remote(self.host)
        return self._remote

    @property
    def log(self) -> OpLog:
        return OpLog(self.paths, self.remote)

    def agent(self, command: str, **args) -> dict:
        return self.remote.agent(command, args)

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()

    # -------------------------------------------------------------- ports

    def port_mode(self) -> str:
        out = self.remote.sh(f"grep -m1 '^Listen' {shlex.quote(self.paths.ports_conf)} || true"
                             ).stdout.split()
        port = int(out[1]) if len(out) > 1 and out[1].isdigit() else None
        return {self.paths.port: "normal", self.paths.backup_port: "backup"}.get(port, "unknown")

    def listening(self) -> set[int]:
        """Which of the server's ports (normal, backup) something listens on, on any
        address: the sockets themselves (ss), not what httpd's configuration says."""
        ports = {self.paths.port, self.paths.backup_port}
        found = set()
        for line in self.remote.sh("ss -Hltn").stdout.splitlines():
            fields = line.split()
            port = fields[3].rsplit(":", 1)[-1] if len(fields) > 3 else ""
            if port.isdigit() and int(port) in ports:
                found.add(int(port))
        return found

    def set_port_mode(self, mode: str) -> None:
        """Through the apache role's port_mode tasks (httpd listens on exactly one port)."""
        playbook("ops_port.yml", self.host, self.inventory_spec, {"apache_port_mode": mode})

    @contextlib.contextmanager
    def on_backup_port(self, echo: Callable[[str], None] = echo_err,
                       back: bool = True) -> Iterator[None]:
        """Backup port inside; ALWAYS back to the normal port afterwards (unless back=False)."""
        echo(f"  {self.name}: moving to the backup port {self.paths.backup_port}")
        self.set_port_mode("backup")
        try:
            yield
        finally:
            if back:
                echo(f"  {self.name}: back to the normal port {self.paths.port}")
                self.set_port_mode("normal")

    # -------------------------------------------------------------- services

    def systemctl(self, action: str, units: tuple[str, ...] = SERVICES) -> None:
        self.remote.sh(f"systemctl {action} {' '.join(units)}")

    def rpc(self, method: str, params: list | None = None, port: int | None = None,
            host: str = "localhost", tries: int = 1) -> dict:
        """A JSON-RPC call made on the server (verified with the CA); the raw answer."""
        url = f"https://{host}:{port or self.paths.port}/json/"
        try:
            return self.agent("rpc", url=url, method=method, params=params or [],
                              cafile=self.paths.ca_cert, tries=tries)["answer"]
        except RemoteError as exc:
            raise OpsError(str(exc)) from None

    def health(self, port: int | None = None, tries: int = 30) -> dict:
        """get_server_info on the server itself: the health check."""
        port = port or self.paths.port
        answer = self.rpc("get_server_info", port=port, tries=tries)
        if answer.get("error") or not answer.get("result"):
            raise OpsError(f"{self.name} answered an error on port {port}: {answer.get('error')}")
        return answer["result"]

    def manage(self, args: list[str], check: bool = True, timeout: int | None = None):
        """manage.py (django-admin) as crds with the server's site config."""
        return self.remote.sh(f"cd {shlex.quote(self.paths.crds)} && "
                              + self.paths.manage_cmd(args), user=self.paths.crds_user,
                              env=self.paths.django_env, check=check, timeout=timeout)

    def check_store(self, sha1: bool = True) -> dict:
        """manage.py check_store, without Django's system checks (every deploy runs those;
        here they cost as much as a size check of the store)."""
        args = ["check_store", "--json", "--skip-checks"] + ([] if sha1 else ["--no-sha1"])
        result = self.manage(args, check=False)
        try:
            return json.loads(result.stdout)
        except ValueError:
            raise OpsError(f"{self.name}: check_store failed: "
                           f"{(result.stderr or result.stdout).strip()[-600:]}") from None

    def facts(self) -> dict:
        p = self.paths
        return self.agent("facts", ports_conf=p.ports_conf, port=p.port,
                          backup_port=p.backup_port, trees=p.trees,
                          dated_root=p.dated_backups, service="crds-httpd", stack=p.stack,
                          state=p.state_file)


def status(target: Target) -> dict:
    """One row of `invoke status`: never raises for an unreachable server."""
    row = {"name": target.name, "host": target.host.hostname, "up": False,
           "port_mode": None, "operational_context": None, "edit_context": None,
           "version": None, "release": None, "disk": {}, "last_backup": None,
           "last_backup_age_s": None, "unfinished": None, "error": None}
    try:
        facts = target.facts()
    except (RemoteError, OpsError, OSError) as exc:
        row["error"] = f"unreachable ({ssh_address(target.host)}): {str(exc)[:200]}"
        return row
    except Exception as exc:  # noqa: BLE001 - paramiko/socket errors of every kind
        row["error"] = (f"unreachable ({ssh_address(target.host)}): "
                        f"{type(exc).__name__}: {str(exc)[:200]}")
        return row
    row.update(port_mode=facts["port_mode"], disk=facts["disk"], release=facts["release"],
               last_backup=facts["last_backup"], last_backup_age_s=facts["last_backup_age_s"],
               unfinished=facts["unfinished"])
    port = facts["port"] or target.paths.port
    try:
        info = target.health(port, tries=3)
        row.update(up=True, operational_context=info.get("operational_context"),
                   edit_context=info.get("edit_context"),
                   version=info.get("server_version"))
    except (OpsError, RemoteError) as exc:
        row["error"] = str(exc)[:200]
    return row


def runtests(target: Target, args: list[str], echo: Callable[[str], None] = echo_err) -> tuple[
        bool, str]:
    """The server's self-tests on the backup port; always back on the normal port."""
    with target.on_backup_port(echo):
        echo(f"  {target.name}: health suite on port {target.paths.backup_port}")
        target.health(target.paths.backup_port)
        script = (f"cd {shlex.quote(target.paths.crds)} && "
                  + target.paths.manage_cmd(["test", "--noinput", *(args or SELFTESTS)]))
        env = {**target.paths.django_env,
               "SELFTEST_SERVER_URL": f"https://localhost:{target.paths.backup_port}",
               "REQUESTS_CA_BUNDLE": target.paths.ca_cert, "SSL_CERT_FILE": target.paths.ca_cert}
        result = target.remote.sh(script, user=target.paths.crds_user, env=env, check=False)
    output = (result.stdout + result.stderr).strip()
    return result.exited == 0, output
