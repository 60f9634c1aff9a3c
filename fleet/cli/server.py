"""Run and stop a CRDS server: `invoke run --server hst-django`, `invoke stop --server ...`.

The `django` use case serves the app from this checkout on http://localhost:8000
(SQLite and the file store under .cache/django/<server>/, seeded on first run).
The logic lives in fleet.django_server.
"""

from __future__ import annotations

import os

from invoke import Exit, task

from fleet import django_server
from fleet.inventory import Inventory, UnknownServer


def _host(server: str, inventory: str | None):
    try:
        return Inventory(inventory or os.environ.get("CRDS_INVENTORY") or "lab").server(server)
    except (UnknownServer, FileNotFoundError) as exc:
        raise Exit(str(exc), code=2) from None


def _apache(host, action: str, yes: bool, inventory: str | None) -> None:
    """Apache servers: systemctl start/stop memcached + crds-httpd over Fabric (the old ./run)."""
    from fleet.cli.ops import confirm_or_exit
    from fleet.ops.core import OpsError
    from fleet.ops.remote import RemoteError
    from fleet.ops.service import Target

    t = Target(host, Inventory(inventory or os.environ.get("CRDS_INVENTORY") or "lab").spec)
    if action == "stop":
        confirm_or_exit(f"stop {t.name} (memcached and crds-httpd)?", yes)
    try:
        t.systemctl(action)
        if action == "start":
            t.health(t.paths.backup_port if t.port_mode() == "backup" else t.paths.port)
        t.log.write(f"{'run' if action == 'start' else 'stop'}: memcached and crds-httpd")
    except (OpsError, RemoteError, OSError) as exc:
        raise Exit(f"{action}: {exc}", code=1) from None
    print(f"{t.name}: memcached and crds-httpd {'started' if action == 'start' else 'stopped'}")


def _django_host(host):
    if not host.observatory:
        raise Exit(f"{host.name} has no crds_observatory in the inventory", code=2)
    return host


@task(help={"server": "a server: hst-django/jwst-django, or an Apache server (jwst-dev...)",
            "port": "port on localhost (default 8000; django only)",
            "inventory": "inventory holding the server (default: $CRDS_INVENTORY, else lab)"})
def run(c, server, port=8000, inventory=None):
    """Start a server: django from the checkout, Apache servers with systemctl (the old ./run)."""
    host = _host(server, inventory)
    if host.use != "django":
        _apache(host, "start", True, inventory)
        return
    host = _django_host(host)
    try:
        url = django_server.run(host.name, host.observatory, int(port))
    except django_server.ServerError as exc:
        raise Exit(str(exc), code=1) from None
    print(f"{host.name} ({host.observatory}) serves {url}  "
          f"[state in {django_server.instance_dir(host.name)}]")


@task(help={"server": "a server: hst-django/jwst-django, or an Apache server",
            "yes": "do not ask (Apache servers)",
            "inventory": "inventory holding the server (default: $CRDS_INVENTORY, else lab)"})
def stop(c, server, yes=False, inventory=None):
    """Stop a server: django started with `invoke run`, or an Apache server's services."""
    host = _host(server, inventory)
    if host.use != "django":
        _apache(host, "stop", yes, inventory)
        return
    host = _django_host(host)
    if django_server.stop(host.name):
        print(f"{host.name} stopped")
    else:
        print(f"{host.name} was not running")


TASKS = [run, stop]
