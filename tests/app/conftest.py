"""App tests: the server app served for real (Apache + mod_wsgi via mod_wsgi-express,
SQLite, a private memcached on loopback) and driven by the real crds client in
subprocesses with their own CRDS_PATH. Helpers live in appkit.py."""

from __future__ import annotations

import shutil

import pytest
from appkit import OBSERVATORIES, Client, Server, instance_base, start_server

from fleet.django_server import Memcached


@pytest.fixture(scope="session")
def memcached():
    mc = Memcached().start()
    yield mc
    mc.stop()


@pytest.fixture(scope="session")
def _servers(memcached):
    started: dict[str, Server] = {}

    def get(observatory: str) -> Server:
        if observatory not in started:
            base = instance_base(observatory)
            started[observatory] = start_server(base, observatory, memcached.location)
        return started[observatory]

    yield get
    for server in started.values():
        server.httpd.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture(scope="session", params=OBSERVATORIES)
def server(request, _servers) -> Server:
    """A seeded server per observatory, shared by the session: tests must not change it."""
    return _servers(request.param)


@pytest.fixture(scope="session")
def hst_server(_servers) -> Server:
    return _servers("hst")


@pytest.fixture
def client(server, tmp_path) -> Client:
    return Client(server, tmp_path / "crds_cache")


@pytest.fixture
def scratch_server():
    """A private HST server that a test may damage (own memcached, own store)."""
    mc = Memcached().start()
    srv = start_server(instance_base("scratch"), "hst", mc.location)
    srv.memcached = mc
    yield srv
    srv.httpd.stop()
    mc.stop()
    shutil.rmtree(srv.base, ignore_errors=True)
