"""Helpers of the app tests (tests/app/conftest.py has the fixtures): the app served for
real (Apache + mod_wsgi via mod_wsgi-express, SQLite, a private memcached on loopback) and
the real crds client in subprocesses with their own CRDS_PATH."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

from rpckit import JsonRpc

from fleet.django_server import ModWsgiServer, manage, prepare
from fleet.paths import VENV_BIN

OBSERVATORIES = ("hst", "jwst")


def sha1(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()  # noqa: S324 - CRDS's checksum


class Server(JsonRpc):
    """A running app instance plus what the seed put in it."""

    def __init__(self, observatory: str, site: Path, httpd: ModWsgiServer):
        self.observatory = observatory
        self.site = site
        self.base = site.parent
        self.httpd = httpd
        self.url = httpd.url
        self.seed = self.base / "server_files" / "seed" / observatory
        self.manifest = json.loads((self.seed / "seed.json").read_text())
        self.store = self.base / "file_cache"

    def manage(self, *args, check=True, input=None):
        return manage(self.site, *args, check=check, input=input)

    def datasets(self) -> list[Path]:
        return [self.seed / d for d in self.manifest["datasets"]]

    def access_log(self) -> list[str]:
        path = self.base / "logs" / "access_log"
        return path.read_text().splitlines() if path.exists() else []


class Client:
    """The real crds client (the suite's venv) with its own cache, pointed at a server."""

    def __init__(self, server: Server, cache: Path, **env):
        self.server = server
        self.cache = cache
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
        self.env.update(CRDS_PATH=str(cache), CRDS_SERVER_URL=server.url,
                        CRDS_OBSERVATORY=server.observatory, **env)

    def run(self, *args: str, check_rc=True, env=None, timeout=300) -> subprocess.CompletedProcess:
        done = subprocess.run([*args], env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if check_rc:
            assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def crds(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run(str(VENV_BIN / "crds"), *args, **kw)

    def python(self, code: str, **kw) -> subprocess.CompletedProcess:
        return self.run(str(VENV_BIN / "python"), "-c", code, **kw)


def errors(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if " - ERROR - " in line]


def count_summary(done: subprocess.CompletedProcess, what: str) -> int:
    for line in (done.stdout + done.stderr).splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1] == what and parts[-2].isdigit():
            return int(parts[-2])
    raise AssertionError(f"no '{what}' summary in:\n{done.stdout}{done.stderr}")


def start_server(base: Path, observatory: str, cache: str) -> Server:
    site = prepare(base, observatory, f"{observatory}-apptest", cache=cache)
    httpd = ModWsgiServer(site, access_log=True).start()
    return Server(observatory, site, httpd)


def instance_base(prefix: str) -> Path:
    """A fresh directory Apache's unprivileged user can reach (pytest's tmp dirs are 0700)."""
    return Path(tempfile.mkdtemp(prefix=f"crds-apptest-{prefix}-", dir="/tmp"))


