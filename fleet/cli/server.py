"""Run and stop a CRDS server: `invoke run --server jwst-dev`, `invoke stop --server ...`.

Apache servers: systemctl start/stop of memcached and crds-httpd over Fabric (the old
./run and ./stop). The `django` use case (hst-django, jwst-django, in the lab inventory)
serves the app from this checkout on http://localhost:8000 (SQLite and the file store
under .cache/django/<server>/, seeded on first run); its logic is fleet.django_server.
Which fleet: as for every task, --inventory or $CRDS_INVENTORY, else the real fleet.
"""

from __future__ import annotations

from invoke import Exit

from fleet import django_server
from fleet.cli.common import FAILURES, command, confirm_or_exit, load_inventory, target
from fleet.inventory import UnknownServer


def _apache(t, action: str, yes: bool, dry_run: bool) -> None:
    units = "memcached and crds-httpd"
    if dry_run:
        print(f"plan: systemctl {action} memcached crds-httpd on {t.name}"
              + (", then a health check" if action == "start" else ""))
        print("dry run: nothing changed")
        return
    if action == "stop":
        confirm_or_exit(f"stop {t.name} ({units})?", yes)
    try:
        t.systemctl(action)
        if action == "start":
            t.health(t.paths.backup_port if t.port_mode() == "backup" else t.paths.port)
        t.log.write(f"{'run' if action == 'start' else 'stop'}: {units}")
    except FAILURES as exc:
        raise Exit(f"{action}: {exc}", code=1) from None
    finally:
        t.close()
    print(f"{t.name}: {units} {'started' if action == 'start' else 'stopped'}")


def _host(server: str, inventory: str | None):
    inv = load_inventory(inventory)
    try:
        host = inv.server(server)
    except UnknownServer:
        host = None  # target() says so, with a hint where the name is known
    if host is not None and host.use == "django":
        if not host.observatory:
            raise Exit(f"{host.name} has no crds_observatory in the inventory", code=2)
        return host, None
    return None, target(server, None, inv)


@command(server="a server: an Apache one (jwst-dev...) or a django one (hst-django, "
                "in the lab inventory)",
         port="port on localhost (default 8000; django only)")
def run(c, server, port=8000, yes=False, dry_run=False, inventory=None):
    """Start a server: Apache servers with systemctl (the old ./run), django from the
    checkout."""
    host, t = _host(server, inventory)
    if t is not None:
        _apache(t, "start", yes, dry_run)
        return
    if dry_run:
        print(f"plan: serve {host.name} ({host.observatory}) from this checkout on "
              f"http://localhost:{port}\ndry run: nothing changed")
        return
    try:
        url = django_server.run(host.name, host.observatory, int(port))
    except django_server.ServerError as exc:
        raise Exit(str(exc), code=1) from None
    print(f"{host.name} ({host.observatory}) serves {url}  "
          f"[state in {django_server.instance_dir(host.name)}]")


@command(server="a server: an Apache one or a django one (in the lab inventory)")
def stop(c, server, yes=False, dry_run=False, inventory=None):
    """Stop a server: an Apache server's services, or django started with `invoke run`."""
    host, t = _host(server, inventory)
    if t is not None:
        _apache(t, "stop", yes, dry_run)
        return
    if dry_run:
        print(f"plan: stop {host.name} started with `invoke run`\ndry run: nothing changed")
        return
    if django_server.stop(host.name):
        print(f"{host.name} stopped")
    else:
        print(f"{host.name} was not running")


TASKS = [run, stop]
