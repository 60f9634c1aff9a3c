"""What the operations lab tests share: the invoke tasks run as a user runs them, and
JSON-RPC to a stand-in's normal port as the crds client sees it (verified TLS)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import ssl
import subprocess
import tempfile
import time
import urllib.request

from fleetlab import FLEET_LAB

from fleet.paths import CACHE, ROOT, VENV_BIN

LAB, BLOCK = FLEET_LAB["CRDS_LAB_NAME"], FLEET_LAB["CRDS_LAB_BLOCK"]
ENV = {**os.environ, **FLEET_LAB, "CRDS_INVENTORY": "lab"}
CA = CACHE / "lab" / LAB / "ca" / "ca.crt"


def url(octet: int) -> str:
    """A stand-in's normal port (its loopback address 127.0.<block>.<octet>)."""
    return f"https://127.0.{BLOCK}.{octet}:8001"


def rpc(url, method, params=(), timeout=60):
    """One JSON-RPC call; ``timeout`` is for an answer that never comes, not a speed limit:
    the first request after a restart loads Django and the crds library in a new daemon,
    which on two loaded cores can take more than ten seconds (speed is measured in bench/)."""
    body = json.dumps({"jsonrpc": "1.0", "method": method, "params": list(params), "id": 1})
    req = urllib.request.Request(f"{url}/json/", data=body.encode(),  # noqa: S310
                                 headers={"Content-Type": "application/json-rpc"})
    ctx = ssl.create_default_context(cafile=str(CA))
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as answer:  # noqa: S310
        return json.loads(answer.read())["result"]


def inv(*args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """`invoke <args>` without a terminal (a task that would ask refuses)."""
    done = subprocess.run([str(VENV_BIN / "invoke"), *args], cwd=ROOT, env=ENV, text=True,
                          capture_output=True, check=False, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


# ------------------------------------------------------------------ app versions for deploys

INIT = "app/crds_server/__init__.py"


def git(*args: str, env: dict | None = None, stdin: str | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, env=env, input=stdin, text=True,
                          capture_output=True, check=True)
    return done.stdout.strip()


def commit_with(changes: dict[str, str], message: str) -> str:
    """A commit on top of HEAD with ``changes`` (path -> text), made without touching the
    working tree, the index or any ref."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": f"{tmp}/index",
               "GIT_AUTHOR_NAME": "crds tests", "GIT_AUTHOR_EMAIL": "tests@localhost",
               "GIT_COMMITTER_NAME": "crds tests", "GIT_COMMITTER_EMAIL": "tests@localhost"}
        git("read-tree", "HEAD", env=env)
        for path, text in changes.items():
            blob = git("hash-object", "-w", "--stdin", stdin=text)
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = git("write-tree", env=env)
        return git("commit-tree", tree, "-p", "HEAD", "-m", message, env=env)


def head_text(path: str) -> str:
    return git("show", f"HEAD:{path}") + "\n"


def with_version(version: str) -> str:
    text, n = re.subn(r'__version__ = "[^"]+"', f'__version__ = "{version}"', head_text(INIT))
    assert n == 1
    return text


# ------------------------------------------------------------------ on a terminal


def in_terminal(*args: str, answer: str = "y", timeout: int = 900,
                env: dict | None = None) -> subprocess.CompletedProcess:
    """`invoke <args>` on a terminal (a pty), answering every [y/N] question with
    ``answer`` as an operator at the keyboard does. stdout and stderr come back together."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    master, slave = pty.openpty()
    # A terminal of 50 rows and 200 columns, as a workstation's window is.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen([str(VENV_BIN / "invoke"), *args], cwd=ROOT,
                            env={**(env or ENV), "NO_COLOR": "1", "TERM": "xterm"},
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out, asked, deadline = b"", 0, time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"invoke {' '.join(args)}: no end within {timeout}s:\n"
                                     + out.decode(errors="replace")[-3000:])
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
            while out.count(b"[y/N]") > asked:
                os.write(master, f"{answer}\n".encode())
                asked += 1
    finally:
        os.close(master)
    proc.wait()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace").replace("\r\n", "\n"))
    return subprocess.CompletedProcess(args, proc.returncode, text, "")


# ------------------------------------------------------------------ the archive stand-in

def pause_archive(*hostnames: str) -> None:
    """Stop the lab's archive STAND-IN timer on each host and wait until a run it started
    has ended (stopping a timer does not stop its service: a run that began a moment ago
    would still take a delivery the test makes next)."""
    for host in hostnames:
        podman = ["podman", "exec", f"{LAB}-{host}", "systemctl"]
        subprocess.run([*podman, "stop", "crds-archive-standin.timer"], env=ENV,
                       capture_output=True, text=True, check=True)
        # A oneshot service is "activating" while it runs (`is-active` then exits 3, as for
        # "inactive"): wait on the state itself until it is one a run has left.
        deadline = time.monotonic() + 120
        while (state := subprocess.run(
                [*podman, "show", "-p", "ActiveState", "--value", "crds-archive-standin.service"],
                env=ENV, capture_output=True, text=True, check=True).stdout.strip()) not in (
                "inactive", "failed"):
            assert time.monotonic() < deadline, (
                f"the archive stand-in on {host} never ended (still {state})")
            time.sleep(0.5)


def resume_archive(*hostnames: str) -> None:
    for host in hostnames:
        subprocess.run(["podman", "exec", f"{LAB}-{host}", "systemctl", "start",
                        "crds-archive-standin.timer"], env=ENV, capture_output=True,
                       text=True, check=True)


@contextlib.contextmanager
def archive_paused(*hostnames: str):
    """The lab's archive STAND-IN (a timer on each server) kept from taking deliveries
    away while a test looks at them; started again afterwards."""
    pause_archive(*hostnames)
    try:
        yield
    finally:
        resume_archive(*hostnames)
