"""The fleet as the Ansible inventory describes it.

Servers are resolved by their short name (``hst-test``) or inventory hostname
(``tlhstcrds``). The inventory is read with ``ansible-inventory`` and values are
rendered with Ansible's own templating, so Python sees exactly what a playbook
sees. Nothing here keeps a second list of hosts.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from fleet.paths import INVENTORIES, ROOT, VENV_BIN

#: The real fleet, used when nothing else is asked for (as in ansible.cfg).
DEFAULT_INVENTORY = "hst,jwst"
ENV_VAR = "CRDS_INVENTORY"


class UnknownServer(LookupError):
    """A server name the inventory does not know."""

    def __init__(self, name: str, known: Iterable[str]):
        self.name = name
        self.known = sorted(known)
        super().__init__(
            f"unknown server {name!r}; known servers: {', '.join(self.known)}"
        )


def inventory_sources(spec: str | None = None) -> list[Path]:
    """Inventory paths for ``spec``: names under inventories/ or paths, comma-separated.

    ``None`` reads $CRDS_INVENTORY, then falls back to the real fleet.
    """
    spec = spec or os.environ.get(ENV_VAR) or DEFAULT_INVENTORY
    sources = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        path = Path(part)
        # A bare name is an inventory under inventories/ even when the current
        # directory happens to hold something of that name (the repo's lab/).
        if "/" not in part and (INVENTORIES / part).is_dir():
            path = INVENTORIES / part
        if not path.exists():
            known = sorted(p.name for p in INVENTORIES.iterdir() if p.is_dir())
            raise FileNotFoundError(
                f"no inventory {part!r}; use one of {', '.join(known)} or a path"
            )
        sources.append(path.resolve())
    return sources


# Ansible's templating loads its plugins lazily and is not thread-safe: `invoke status`
# asks every server at once, and two threads rendering a lookup('env') for the first time
# could see a half-loaded plugin ("lookup plugin 'ansible.builtin.env' failed to load").
# Rendering a variable takes a millisecond, so one lock for all of it costs nothing.
_ANSIBLE = threading.RLock()


@cache
def _init_ansible_plugins() -> None:
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()


def _trusted(value: Any) -> Any:
    from ansible.template import trust_as_template

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return value


@dataclass(frozen=True)
class Host:
    """One inventory host; ``var()`` renders a variable as a play would."""

    hostname: str
    groups: frozenset[str]
    raw_vars: dict[str, Any] = field(repr=False, compare=False)
    inventory_dir: str = field(repr=False, compare=False, default="")

    @property
    def name(self) -> str:
        """The short name operators type (hst-test), else the hostname."""
        return self.raw_vars.get("crds_short_name", self.hostname)

    @cached_property
    def _templar(self):
        from ansible.parsing.dataloader import DataLoader
        from ansible.template import Templar

        _init_ansible_plugins()
        variables = _trusted(self.raw_vars)
        variables.update(
            inventory_hostname=self.hostname,
            inventory_hostname_short=self.hostname.split(".")[0],
            inventory_dir=self.inventory_dir,
            group_names=sorted(self.groups - {"all", "ungrouped"}),
            playbook_dir=str(ROOT),
        )
        return Templar(loader=DataLoader(), variables=variables)

    def var(self, key: str, default: Any = None) -> Any:
        if key not in self.raw_vars:
            return default
        with _ANSIBLE:
            return self._templar.template(_trusted(self.raw_vars[key]))

    @property
    def observatory(self) -> str | None:
        return self.raw_vars.get("crds_observatory")

    @property
    def use(self) -> str | None:
        return self.raw_vars.get("crds_use")

    @property
    def is_server(self) -> bool:
        """A CRDS server (Apache use case), as opposed to lab infrastructure."""
        return "crds_servers" in self.groups


_USE_ORDER = ("ops", "test", "dev", "bit", "cit", "django")


def _fleet_order(host: Host) -> tuple:
    use = host.use or ""
    return (
        host.observatory or "",
        _USE_ORDER.index(use) if use in _USE_ORDER else len(_USE_ORDER),
        host.hostname,
    )


class Inventory:
    """An Ansible inventory (one or several sources) read once."""

    def __init__(self, spec: str | None = None):
        self.sources = inventory_sources(spec)
        self.spec = ",".join(str(s) for s in self.sources)
        data = self._load()
        hostvars = data.get("_meta", {}).get("hostvars", {})
        members: dict[str, set[str]] = {}

        def walk(group: str, ancestors: tuple[str, ...]) -> None:
            node = data.get(group, {})
            for host in node.get("hosts", []):
                members.setdefault(host, set()).update((group, *ancestors))
            for child in node.get("children", []):
                walk(child, (group, *ancestors))

        walk("all", ())
        self.groups = {
            g: sorted(h for h, gs in members.items() if g in gs)
            for g in {g for gs in members.values() for g in gs}
        }
        inventory_dir = str(self.sources[0]) if self.sources[0].is_dir() else str(
            self.sources[0].parent
        )
        self.hosts = {
            h: Host(h, frozenset(gs), hostvars.get(h, {}), inventory_dir)
            for h, gs in sorted(members.items())
        }

    def _load(self) -> dict:
        cmd = [str(VENV_BIN / "ansible-inventory"), "--list", "--playbook-dir", str(ROOT)]
        for source in self.sources:
            cmd += ["-i", str(source)]
        done = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise RuntimeError(f"ansible-inventory failed: {done.stderr.strip()}")
        return json.loads(done.stdout)

    def servers(self) -> list[Host]:
        """Every host with a short name, in fleet order (hst before jwst, ops first)."""
        servers = [h for h in self.hosts.values() if "crds_short_name" in h.raw_vars]
        return sorted(servers, key=_fleet_order)

    def server(self, name: str) -> Host:
        """The server called ``name`` (short name or hostname)."""
        for host in self.servers():
            if name in (host.name, host.hostname):
                return host
        raise UnknownServer(name, (h.name for h in self.servers()))

    def select(self, names: Iterable[str] | None = None) -> list[Host]:
        """The named servers, or every server when ``names`` is empty."""
        names = list(names or [])
        return [self.server(n) for n in names] if names else self.servers()
