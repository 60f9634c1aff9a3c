"""Run and stop a CRDS server: `invoke run --server hst-django`, `invoke stop --server ...`.

The `django` use case serves the app from this checkout on http://localhost:8000
(SQLite and the file store under .cache/django/<server>/, seeded on first run).
The logic lives in fleet.django_server.
"""

from __future__ import annotations

from invoke import Exit, task

from fleet import django_server
from fleet.inventory import Inventory, UnknownServer


def _django_host(server: str, inventory: str | None):
    try:
        host = Inventory(inventory or "lab").server(server)
    except (UnknownServer, FileNotFoundError) as exc:
        raise Exit(str(exc), code=2) from None
    if host.use != "django":
        raise Exit(
            f"not yet: {host.name} is an Apache server ({host.use}); running it needs the "
            "roles (ansible-playbook site.yml -l <host>). Only the django servers "
            "(hst-django, jwst-django) run from the checkout.",
            code=2,
        )
    if not host.observatory:
        raise Exit(f"{host.name} has no crds_observatory in the inventory", code=2)
    return host


@task(help={"server": "a django server: hst-django or jwst-django",
            "port": "port on localhost (default 8000)",
            "inventory": "inventory holding the server (default: lab)"})
def run(c, server, port=8000, inventory=None):
    """Serve the app from the checkout (django use case), detached; prints the URL."""
    host = _django_host(server, inventory)
    try:
        url = django_server.run(host.name, host.observatory, int(port))
    except django_server.ServerError as exc:
        raise Exit(str(exc), code=1) from None
    print(f"{host.name} ({host.observatory}) serves {url}  "
          f"[state in {django_server.instance_dir(host.name)}]")


@task(help={"server": "a django server: hst-django or jwst-django",
            "inventory": "inventory holding the server (default: lab)"})
def stop(c, server, inventory=None):
    """Stop a server started with `invoke run`."""
    host = _django_host(server, inventory)
    if django_server.stop(host.name):
        print(f"{host.name} stopped")
    else:
        print(f"{host.name} was not running")


TASKS = [run, stop]
