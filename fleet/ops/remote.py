"""Fabric connections to a server, read from the same settings ansible-playbook reads.

The inventory's ``ansible_host``, ``ansible_port``, ``ansible_user`` and
``ansible_ssh_private_key_file``, and an OpenSSH client configuration as ssh reads it:
``~/.ssh/config`` (and /etc/ssh/ssh_config), or only the file given with ``-F`` in
``ansible_ssh_common_args``. So a ``Host`` alias, ``HostName``, ``Port``, ``User``,
``IdentityFile`` or ``ProxyJump`` that makes a converge work makes ``invoke backup`` work.
As with Ansible, a value the inventory sets wins over the configuration's. Host keys are
checked against the known-hosts file named by ``UserKnownHostsFile`` (inventory first,
then the configuration), else the user's; an unknown key is refused. Root and the crds
user are reached with sudo, as Ansible's become does.
"""

from __future__ import annotations

import io
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from fleet.inventory import Host

AGENT = Path(__file__).with_name("agent.py")


class RemoteError(RuntimeError):
    """A remote command failed; the message carries what it said."""


def _ssh_options(args: str) -> tuple[str | None, dict[str, str]]:
    """The ``-F`` file and the ``-o Name=value`` options of an ssh argument string."""
    config, options = None, {}
    words = iter(shlex.split(args))
    for word in words:
        if word in ("-F", "-o"):
            word += next(words, "")
        if word.startswith("-F"):
            config = word[2:]
        elif word.startswith("-o") and "=" in word:
            name, value = word[2:].split("=", 1)
            options[name.strip().lower()] = value.strip()
    return config, options


@dataclass(frozen=True)
class ConnectionFacts:
    host: str
    port: int | None  # None: the ssh configuration's, else 22
    user: str | None
    key_file: str | None
    known_hosts: str | None
    ssh_config: str | None  # ``-F`` file; None reads ~/.ssh/config as ssh does

    @classmethod
    def of(cls, host: Host) -> ConnectionFacts:
        args = " ".join(str(host.var(k, "") or "") for k in
                        ("ansible_ssh_common_args", "ansible_ssh_extra_args"))
        config, options = _ssh_options(args)
        known = options.get("userknownhostsfile")
        key = host.var("ansible_ssh_private_key_file")
        port = host.var("ansible_port")
        return cls(
            host=str(host.var("ansible_host") or host.hostname),
            port=int(port) if port else None,
            user=host.var("ansible_user"),
            key_file=str(Path(key).expanduser().resolve()) if key else None,
            known_hosts=str(Path(known).expanduser().resolve()) if known else None,
            ssh_config=str(Path(config).expanduser().resolve()) if config else None,
        )


def ssh_address(host: Host) -> str:
    """Where SSH goes for ``host``, as the inventory says (an alias is resolved by ssh's
    configuration), for messages: user@host:port."""
    facts = ConnectionFacts.of(host)
    where = f"{facts.user}@{facts.host}" if facts.user else facts.host
    return f"{where}:{facts.port}" if facts.port else where


def connect(host: Host):
    """A Fabric Connection to ``host`` (host keys checked, unknown ones refused)."""
    from fabric import Config, Connection
    from paramiko import RejectPolicy

    facts = ConnectionFacts.of(host)
    config = Config(overrides={"load_ssh_configs": True, "run": {"hide": True, "warn": True}},
                    runtime_ssh_path=facts.ssh_config)
    kwargs = {"key_filename": facts.key_file, "look_for_keys": False,
              "allow_agent": False} if facts.key_file else {}
    conn = Connection(facts.host, user=facts.user, port=facts.port, config=config,
                      connect_kwargs=kwargs, connect_timeout=15)
    known = facts.known_hosts or conn.ssh_config.get("userknownhostsfile")
    if isinstance(known, list):
        known = known[0]
    client = conn.client
    if known and os.path.exists(os.path.expanduser(known)):
        client.load_host_keys(os.path.expanduser(known))
    else:
        client.load_system_host_keys()
    client.set_missing_host_key_policy(RejectPolicy())
    return conn


class WholeChunks(io.StringIO):
    """Input for a remote command, handed over in 64 KiB chunks: invoke reads its input
    stream one character at a time with a 10 ms pause (made for typing), which made an
    agent call's 1 KB of JSON arguments take 10 s."""

    def read(self, size: int | None = -1) -> str:
        return super().read(1 << 16)


class Remote:
    """Commands on one server: as root or as crds (sudo), and the ops agent."""

    def __init__(self, host: Host, crds_user: str, agent_path: str, conn=None):
        self.host = host
        self.crds_user = crds_user
        self.agent_path = agent_path
        self._conn = conn
        self._agent_ready = False

    @property
    def conn(self):
        if self._conn is None:
            self._conn = connect(self.host)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def sh(self, script: str, *, user: str = "root", env: dict | None = None,
           stdin: str | None = None, check: bool = True, timeout: int | None = None):
        """Run a bash script as ``user`` via sudo; returns invoke's Result."""
        exports = "".join(f"export {k}={shlex.quote(str(v))}; " for k, v in (env or {}).items())
        who = "" if user == "root" else f"-u {shlex.quote(user)} "
        command = f"sudo -n -H {who}bash -c {shlex.quote(exports + script)}"
        kwargs = {"hide": True, "warn": True, "timeout": timeout}
        if stdin is not None:
            kwargs["in_stream"] = WholeChunks(stdin)
        else:
            kwargs["in_stream"] = False
        result = self.conn.run(command, **kwargs)
        if check and result.exited != 0:
            raise RemoteError(
                f"{self.host.name}: `{script.splitlines()[0][:120]}` failed ({result.exited}): "
                f"{(result.stderr or result.stdout).strip()[-1200:]}")
        return result

    def ensure_agent(self) -> None:
        if self._agent_ready:
            return
        tmp = f".crds-ops-agent-{self.host.hostname}.py"  # in the login user's home
        self.conn.put(str(AGENT), tmp)
        self.sh(f"install -D -m 0700 -o root -g root {shlex.quote(tmp)} "
                f"{shlex.quote(self.agent_path)} && rm -f {shlex.quote(tmp)}")
        self._agent_ready = True

    def agent(self, command: str, args: dict) -> dict:
        """Run one agent command (as root) and return its JSON result."""
        self.ensure_agent()
        result = self.sh(f"python3 {shlex.quote(self.agent_path)} {command}",
                         stdin=json.dumps(args), check=False)
        try:
            out = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RemoteError(f"{self.host.name}: agent {command} failed ({result.exited}): "
                              f"{(result.stderr or result.stdout).strip()[-1200:]}") from None
        if result.exited or "error" in out:
            raise RemoteError(f"{self.host.name}: {out.get('error', result.stderr)}")
        return out


def stream(src: Remote, src_script: str, dst: Remote, dst_script: str, *,
           src_input: bytes = b"", src_user: str = "root", dst_user: str = "root",
           chunk: int = 1 << 20) -> int:
    """Pipe ``src_script``'s output (run on src as ``src_user``, fed ``src_input``) into
    ``dst_script`` on dst, through this machine: one SSH channel on each side, so the two
    servers need no way to reach each other. Returns the bytes carried; raises RemoteError
    naming the side that failed."""
    import threading

    def channel(remote: Remote, script: str, user: str):
        who = "" if user == "root" else f"-u {shlex.quote(user)} "
        if not remote.conn.is_connected:
            remote.conn.open()
        chan = remote.conn.client.get_transport().open_session()
        chan.exec_command(f"sudo -n -H {who}bash -c {shlex.quote(script)}")
        return chan

    out = channel(src, src_script, src_user)
    into = channel(dst, dst_script, dst_user)

    def feed():
        out.sendall(src_input)
        out.shutdown_write()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    carried = 0
    while True:
        data = out.recv(chunk)
        if not data:
            break
        into.sendall(data)
        carried += len(data)
    into.shutdown_write()
    feeder.join()
    problems = []
    for side, chan, remote in (("sending", out, src), ("receiving", into, dst)):
        status = chan.recv_exit_status()
        err = b""
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(1 << 16)
        if status:
            problems.append(f"{remote.host.name} ({side}) exited {status}: "
                            f"{err.decode(errors='replace').strip()[-800:]}")
        chan.close()
    if problems:
        raise RemoteError("; ".join(problems))
    return carried
