"""The lab: the fleet's servers as local podman containers ("stand-ins").

Each stand-in runs systemd as PID 1 and sshd; Ansible reaches it over SSH with
the lab's generated key, exactly as it reaches a real VM. Which stand-ins exist,
their hostnames and loopback addresses come from ``inventories/lab`` (group
``lab_standins``), never from a list kept here.

Everything the lab makes in podman carries the label ``crds.lab=<name>``; the
lab only ever starts, inspects or removes what carries its own label.
``CRDS_LAB_NAME`` and ``CRDS_LAB_BLOCK`` select a second lab side by side.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fleet import ui
from fleet.inventory import Inventory, UnknownServer
from fleet.paths import CACHE, INVENTORIES, ROOT, VENV_BIN

LAB_DIR = ROOT / "lab"
CONTAINERS_CONF = LAB_DIR / "containers.conf"
IMAGES_CACHE = CACHE / "images"
PACKAGES_FILE = LAB_DIR / "packages.txt"
VAULT_FILE = INVENTORIES / "lab" / "group_vars" / "all" / "vault.yml"
VAULT_ID = "lab"
VAULT_CLIENT = ROOT / "bin" / "lab-vault-password"
CA_PLAYBOOK = ROOT / "playbooks" / "lab_ca.yml"

#: Bump when the build logic below changes: it is part of every image tag.
BUILD_VERSION = "1"
SUITE = "bookworm"
BASE_REPO = "localhost/crds-lab-base"
NODE_REPO = "localhost/crds-lab-node"
NODE_LATEST = f"{NODE_REPO}:latest"

LABEL = "crds.lab"
HOST_LABEL = "crds.lab.host"
SSH_PORT = 2222
DEFAULT_NAME = "crdslab"
DEFAULT_BLOCK = "1"
SSH_TIMEOUT = 180
#: Container names resolve on a podman network of the CNI backend (Debian 12's default)
#: only through this plugin; a network made while it was missing never resolves names.
DNS_PLUGIN = Path("/usr/lib/cni/dnsname")
DNS_PACKAGE = "golang-github-containernetworking-plugin-dnsname"
#: What every stand-in must reach by name before a converge can work (the site database
#: and the mail sink), checked by connecting to their sshd.
PEER_GROUPS = ("database", "mail")
PEER_PORT = 22

Echo = Callable[[str], None]


class LabError(RuntimeError):
    """Something the lab cannot do; the message says what to do instead."""


# --------------------------------------------------------------------------- podman


def podman_env() -> dict[str, str]:
    """The environment every podman call runs in: the project's containers.conf."""
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def _true(value) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def podman(*args: str, check: bool = True, capture: bool = True,
           input: str | None = None) -> subprocess.CompletedProcess:
    if shutil.which("podman") is None:
        raise LabError("podman is not installed: run `make system` (or `make lab`)")
    done = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=capture, text=True,
        check=False, input=input,
    )
    if check and done.returncode:
        err = (done.stderr or "").strip() if capture else ""
        raise LabError(f"podman {' '.join(args[:3])} ... failed: {err}")
    return done


def podman_json(*args: str) -> list[dict]:
    out = podman(*args).stdout.strip()
    return json.loads(out) if out else []


# --------------------------------------------------------------------------- images


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (never hard-coded here)."""
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        for stanza in deb822.read_text().split("\n\n"):
            if re.search(r"^Suites:.*\b" + SUITE + r"\b", stanza, re.M):
                match = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if match:
                    return match.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                return parts[1]
    raise LabError(
        "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or "
        "/etc/apt/sources.list: configure apt first"
    )


def packages() -> list[str]:
    lines = PACKAGES_FILE.read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:12]


def base_tag() -> str:
    """The base image's tag: the package list, suite and build logic version."""
    recipe = f"{BUILD_VERSION}\n{SUITE}\nminbase\n" + "\n".join(packages())
    return _digest(recipe.encode())


def node_tag() -> str:
    """The stand-in image's tag: the base plus every file under lab/ it is built from."""
    files = sorted(p for p in LAB_DIR.rglob("*") if p.is_file() and p.name != "containers.conf")
    parts = [base_tag().encode()]
    for path in files:
        parts += [str(path.relative_to(LAB_DIR)).encode(), path.read_bytes()]
    return _digest(*parts)


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def build_images(force: bool = False, echo: Echo = print) -> str:
    """Build (or reuse) the base and stand-in images; returns the stand-in image."""
    base = f"{BASE_REPO}:{base_tag()}"
    node = f"{NODE_REPO}:{node_tag()}"
    if not force and image_exists(node):
        if _image_id(NODE_LATEST) != _image_id(node):
            podman("tag", node, NODE_LATEST)
        return node
    if force or not image_exists(base):
        tarball = IMAGES_CACHE / f"crds-lab-base-{base_tag()}.tar"
        if force or not tarball.exists():
            _debootstrap(tarball, echo)
        echo(f"importing {tarball.name} as {base}")
        with tarball.open("rb") as fh:
            done = subprocess.run(
                ["podman", "import", "--change", "CMD [\"/sbin/init\"]", "-", base],
                stdin=fh, env=podman_env(), capture_output=True, text=True, check=False,
            )
        if done.returncode:
            raise LabError(f"podman import failed: {done.stderr.strip()}")
    echo(f"building {node}")
    with ui.live(f"building {node}") as line:
        podman("build", "--build-arg", f"BASE={base}", "-t", node, "-t", NODE_LATEST,
               "-f", str(LAB_DIR / "Containerfile"), str(LAB_DIR))
    echo(f"  built in {line.elapsed():.0f}s")
    _prune(keep={base, node, NODE_LATEST}, echo=echo)
    return node


def _prune(keep: set[str], echo: Echo) -> None:
    """Drop older recipes' tarballs and images (images still in use stay)."""
    for tarball in IMAGES_CACHE.glob("crds-lab-base-*.tar"):
        if f"{BASE_REPO}:{tarball.stem.removeprefix('crds-lab-base-')}" not in keep:
            tarball.unlink()
    refs = podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    old = [r for r in refs if r.startswith((f"{BASE_REPO}:", f"{NODE_REPO}:")) and r not in keep]
    for ref in old:
        if podman("rmi", ref, check=False).returncode == 0:
            echo(f"removed the outdated image {ref}")


def _image_id(ref: str) -> str | None:
    done = podman("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _debootstrap(tarball: Path, echo: Echo) -> None:
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed: run `make system`")
    IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(dir=IMAGES_CACHE, prefix="root.") as tmp:
        root = Path(tmp) / "root"
        echo(f"debootstrap {SUITE} ({len(packages())} packages) into {root}")
        with ui.live(f"debootstrap {SUITE} from {mirror}") as line:
            done = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={','.join(packages())}",
                 SUITE, str(root), mirror],
                capture_output=True, text=True, check=False,
            )
        echo(f"  debootstrap took {line.elapsed():.0f}s")
        if done.returncode:
            log = root / "debootstrap" / "debootstrap.log"
            tail = log.read_text()[-2000:] if log.exists() else done.stderr[-2000:]
            raise LabError(f"debootstrap failed:\n{tail}")
        # Keep apt's lists (roles use apt state=present offline); drop downloaded debs.
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        partial = tarball.with_suffix(".tar.partial")
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."],
                       check=True)
        partial.rename(tarball)


# --------------------------------------------------------------------------- the lab


@dataclass(frozen=True)
class Standin:
    hostname: str
    name: str
    address: str
    observatory: str | None
    is_server: bool
    ports: tuple[int, ...]
    container: str
    mounts: tuple[tuple[str, str, str], ...]  # (volume, path in the container, rw | ro)
    url: str | None


class Lab:
    """One lab, named by ``CRDS_LAB_NAME`` and placed by ``CRDS_LAB_BLOCK``."""

    def __init__(self, name: str | None = None, block: str | None = None):
        name = name or os.environ.get("CRDS_LAB_NAME") or DEFAULT_NAME
        block = str(block or os.environ.get("CRDS_LAB_BLOCK") or DEFAULT_BLOCK)
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", name):
            raise LabError(
                f"bad lab name {name!r} (CRDS_LAB_NAME): use lowercase letters, digits "
                "and '-', starting with a letter"
            )
        if not block.isdigit() or not 0 <= int(block) <= 255:
            raise LabError(f"bad lab block {block!r} (CRDS_LAB_BLOCK): use a number 0-255")
        self.name, self.block = name, str(int(block))
        # The inventory renders ansible_host etc. from these environment variables.
        os.environ["CRDS_LAB_NAME"], os.environ["CRDS_LAB_BLOCK"] = self.name, self.block
        self.state_dir = CACHE / "lab" / self.name
        self.key = self.state_dir / "id_ed25519"
        self.known_hosts = self.state_dir / "known_hosts"
        self.ca_dir = self.state_dir / "ca"
        self.ca_bundle = self.ca_dir / "ca.crt"
        self.network = f"{self.name}-net"
        self.label = f"{LABEL}={self.name}"

    @property
    def volumes(self) -> dict[str, str]:
        """Every volume of the lab: the global cache, and per server its own Isilon tree and
        its own folder of the backup exchange."""
        volumes = {f"{self.name}-grp": f"{self.name}-grp"}
        for s in self.standins:
            for volume, _path, _mode in s.mounts:
                volumes.setdefault(volume, volume)
        return volumes

    # ----------------------------------------------------------------- inventory

    @cached_property
    def inventory(self) -> Inventory:
        return Inventory("lab")

    @cached_property
    def standins(self) -> list[Standin]:
        inv = self.inventory
        result = []
        for hostname in inv.groups.get("lab_standins", []):
            host = inv.hosts[hostname]
            address = host.var("ansible_host")
            ports: tuple[int, ...] = ()
            mounts: list[tuple[str, str, str]] = []
            url = None
            if host.is_server:
                port = int(host.var("crds_port", 8001))
                ports = (port, int(host.var("crds_backup_port", 8002)))
                url = f"https://{address}:{port}/"
                mounts = self._server_mounts(host, inv)
            result.append(Standin(
                hostname=hostname, name=host.name, address=address,
                observatory=host.observatory, is_server=host.is_server, ports=ports,
                container=f"{self.name}-{hostname}", mounts=tuple(mounts), url=url,
            ))
        order = {h.hostname: i for i, h in enumerate(inv.servers())}
        return sorted(result, key=lambda s: (order.get(s.hostname, len(order)), s.hostname))

    def _server_mounts(self, host, inv: Inventory) -> list[tuple[str, str, str]]:
        """What a server stand-in mounts, as the real VMs do: only its own tree of the
        Isilon (/ifs/crds/<obs>/<use>), writable; the global cache /grp/crds/cache,
        writable only where the ops server publishes to it; its own folder of the backup
        exchange writable, and those of the other servers of its observatory read-only
        (a mirror's destination reads its source's latest backup there)."""
        ifs = host.var("crds_ifs")
        exchange = host.var("crds_backup_exchange")
        mounts = [(f"{self.name}-ifs-{host.observatory}-{host.var('crds_use')}", ifs, "rw"),
                  (f"{self.name}-grp", host.var("crds_grp_cache"),
                   "rw" if _true(host.var("crds_sync_to_grp")) else "ro")]
        for other in inv.servers():
            if other.observatory == host.observatory:
                mounts.append((f"{self.name}-backups-{other.name}", f"{exchange}/{other.name}",
                               "rw" if other.hostname == host.hostname else "ro"))
        return mounts

    def standin(self, name: str) -> Standin:
        for s in self.standins:
            if name in (s.name, s.hostname, s.container):
                return s
        raise UnknownServer(name, (s.name for s in self.standins))

    def ssh_argv(self, s: Standin) -> list[str]:
        return ["ssh", "-i", str(self.key), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=accept-new", "-p", str(SSH_PORT),
                f"admin@{s.address}"]

    # ----------------------------------------------------------------- podman state

    def containers(self) -> dict[str, dict]:
        """This lab's containers by name (only those labelled as this lab's)."""
        rows = podman_json("ps", "-a", "--filter", f"label={self.label}", "--format", "json")
        return {row["Names"][0]: row for row in rows}

    def own_volumes(self) -> list[str]:
        rows = podman_json("volume", "ls", "--filter", f"label={self.label}", "--format", "json")
        return sorted(r["Name"] for r in rows)

    def own_networks(self) -> list[str]:
        rows = podman_json("network", "ls", "--filter", f"label={self.label}",
                           "--format", "json")
        return sorted(r["name"] for r in rows)

    # ----------------------------------------------------------------- status

    def status(self) -> list[dict]:
        containers = self.containers()
        rows = []
        for s in self.standins:
            c = containers.get(s.container)
            state = "absent" if c is None else (
                "running" if c.get("State") == "running" else "stopped")
            rows.append({
                "name": s.name, "host": s.hostname, "container": s.container,
                "state": state, "address": s.address,
                "ssh": " ".join(self.ssh_argv(s)), "url": s.url,
                "ca": str(self.ca_bundle),
            })
        return rows

    # ----------------------------------------------------------------- up

    def up(self, echo: Echo = print) -> dict[str, list[str]]:
        """Bring the lab up; returns what changed (created/started), empty when nothing."""
        changes: dict[str, list[str]] = {"created": [], "started": [], "recreated": []}
        image = build_images(echo=echo)
        standins = self.standins
        if not standins:
            raise LabError("inventories/lab has no hosts in group lab_standins")
        existing = self.containers()
        missing = [s for s in standins if s.container not in existing]
        self._check_foreign(missing)  # before creating anything
        self._check_mounts(standins, existing)
        self._ensure_key(changes)
        self._ensure_vault(changes, echo)
        self._ensure_ca(changes, echo)
        self._ensure_network_and_volumes(changes)
        pubkey = self.key.with_suffix(".pub").read_text()
        outdated: list[str] = []
        image_id = _image_id(image)
        for s in standins:
            c = existing.get(s.container)
            if c is None:
                self._forget_host_key(s)
                self._create(s, image)
                self._authorize(s, pubkey)
                changes["created"].append(s.container)
            else:
                verdict = self._revive(s, c)
                if verdict == "started":
                    changes["started"].append(s.container)
                elif verdict == "dead":
                    # podman's record outlived the container's processes (the machine
                    # rebooted, or they were killed behind podman's back): such a record
                    # can neither be started nor exec'd into. Make the container again on
                    # the same volumes; the converge sets its system up again.
                    podman("rm", "-f", "-t", "0", s.container, check=False)
                    self._forget_host_key(s)
                    self._create(s, image)
                    self._authorize(s, pubkey)
                    changes["recreated"].append(s.container)
                    continue
                if not self.ssh_ok(s):
                    # Made from another checkout, or this lab's state in .cache was
                    # removed: our key is unknown there, its host key not yet trusted.
                    self._forget_host_key(s)
                    self._authorize(s, pubkey)
                if image_id and not image_id.startswith(c.get("ImageID") or "-"):
                    outdated.append(s.container)
        for verb, items in changes.items():
            if items:
                echo(f"{verb}: {', '.join(items)}")
        if outdated:
            echo(f"note: {', '.join(outdated)} run an older image than {image}; "
                 "`invoke lab.down --yes` then `invoke lab.up` recreates them")
        self.wait_for_ssh(standins)
        self.check_names(standins)
        return {k: v for k, v in changes.items() if v}

    def check_names(self, standins: Iterable[Standin]) -> None:
        """Every stand-in resolves the database and mail hosts by name and reaches them.

        Fails in seconds with the missing piece named, instead of a converge that stops
        minutes later when Django cannot find its database host."""
        peers = [h for g in PEER_GROUPS for h in self.inventory.groups.get(g, [])]
        if not peers:
            return
        script = " ; ".join(
            f"if getent hosts {p} >/dev/null; then timeout 3 bash -c ': </dev/tcp/{p}/"
            f"{PEER_PORT}' 2>/dev/null || echo 'reach {p}'; else echo 'resolve {p}'; fi"
            for p in peers)

        def check(s: Standin) -> tuple[str, list[str]]:
            done = podman("exec", s.container, "bash", "-c", script, check=False)
            problems = [ln for ln in done.stdout.splitlines() if ln.strip()]
            if done.returncode and not problems:
                problems = [f"exec failed: {done.stderr.strip()[:200]}"]
            return s.hostname, problems

        with ThreadPoolExecutor(max_workers=10) as pool:
            failed = {h: p for h, p in pool.map(check, list(standins)) if p}
        if not failed:
            return
        unresolved = any(p.startswith("resolve ") for ps in failed.values() for p in ps)
        lines = []
        for host, problems in sorted(failed.items()):
            by_verb: dict[str, list[str]] = {}
            for problem in problems:
                verb, _, peer = problem.partition(" ")
                by_verb.setdefault(verb, []).append(peer)
            lines.append(f"{host}: " + "; ".join(
                f"cannot {verb} {', '.join(peers)}" for verb, peers in by_verb.items()))
        if unresolved:
            if not DNS_PLUGIN.exists():
                why = (f"podman's DNS plugin for the CNI backend is missing ({DNS_PLUGIN}, "
                       f"Debian package {DNS_PACKAGE}). Install it with `make system`, then "
                       "recreate the lab's network")
            elif not self.network_dns_enabled():
                why = (f"the network {self.network} was created without DNS (before "
                       f"{DNS_PACKAGE} was installed) and keeps lacking it. Recreate it")
            else:
                why = (f"the network {self.network} has DNS enabled but names do not resolve "
                       "(is dnsmasq running? see `journalctl` on this machine). Recreate it")
            fix = ("`.venv/bin/invoke lab.down --yes && .venv/bin/invoke lab.up` (volumes are "
                   "recreated empty; the converge seeds them again)")
            raise LabError(f"the stand-ins cannot find each other by name on {self.network}:\n  "
                           + "\n  ".join(lines) + f"\n{why}: {fix}")
        raise LabError(f"the stand-ins resolve each other but cannot connect on {self.network}:"
                       "\n  " + "\n  ".join(lines) + "\nsee `podman logs "
                       f"{self.name}-<host>`; check that sshd runs there "
                       "(`.venv/bin/invoke lab.ssh <host>`)")

    def network_dns_enabled(self) -> bool:
        done = podman("network", "inspect", self.network, check=False)
        if done.returncode:
            return False
        rows = json.loads(done.stdout or "[]")
        return bool(rows and rows[0].get("dns_enabled"))

    def _check_mounts(self, standins: list[Standin], existing: dict[str, dict]) -> None:
        """Refuse containers made with another volume layout than the inventory's (an
        older lab shared one Isilon volume per observatory among all its servers)."""
        stale = []
        for s in standins:
            if s.container not in existing:
                continue
            rows = podman_json("container", "inspect", s.container)
            have = {(m.get("Name"), m.get("Destination"), "rw" if m.get("RW") else "ro")
                    for m in (rows[0].get("Mounts") or []) if m.get("Type") == "volume"}
            if have != set(s.mounts):
                stale.append(s.container)
        if stale:
            raise LabError(
                f"{', '.join(stale)} were made with another volume layout than this checkout's "
                "(each server now mounts only its own Isilon tree and backup folder): "
                "`.venv/bin/invoke lab.down --yes && .venv/bin/invoke lab.up` makes the lab "
                "again (its volumes start empty; the converge seeds them)")

    def _check_foreign(self, missing: list[Standin]) -> None:
        """Refuse names and ports that something other than this lab already holds."""
        if not missing:
            return
        everything = podman_json("ps", "-a", "--format", "json")
        by_name = {row["Names"][0]: row for row in everything}
        problems = []
        for s in missing:
            if s.container in by_name:
                owner = (by_name[s.container].get("Labels") or {}).get(LABEL)
                what = f"lab {owner!r}" if owner else "no lab"
                problems.append(
                    f"container name {s.container!r} is taken by a container that belongs "
                    f"to {what}, not to lab {self.name!r}: remove or rename it "
                    f"(`podman rm {s.container}`) or pick another CRDS_LAB_NAME"
                )
        for kind, names in (("network", [self.network]), ("volume", self.volumes.values())):
            for name in names:
                done = podman(kind, "inspect", name, check=False)
                if done.returncode == 0:
                    labels = (json.loads(done.stdout)[0].get("Labels") or
                              json.loads(done.stdout)[0].get("labels") or {})
                    if labels.get(LABEL) != self.name:
                        problems.append(
                            f"{kind} {name!r} exists but is not lab {self.name!r}'s: "
                            f"remove it (`podman {kind} rm {name}`) or pick another "
                            "CRDS_LAB_NAME"
                        )
        for s in missing:
            for port in (SSH_PORT, *s.ports):
                holder = _port_holder(s.address, port, everything)
                if holder:
                    problems.append(
                        f"port {s.address}:{port} (for {s.hostname}) is taken by {holder}: "
                        "stop it or pick another CRDS_LAB_BLOCK"
                    )
        if problems:
            raise LabError("cannot bring the lab up:\n  " + "\n  ".join(problems))

    def _ensure_key(self, changes: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                            f"crds-lab-{self.name}", "-f", str(self.key)], check=True)
            changes.setdefault("key", []).append(str(self.key.relative_to(ROOT)))

    def _ensure_vault(self, changes: dict, echo: Echo) -> None:
        """The lab's secrets, generated: made whole when the inventory grew (a new server,
        a new kind of secret), never changed where a value exists."""
        data = self._read_vault() if VAULT_FILE.exists() else {}
        before = json.dumps(data, sort_keys=True)
        data.setdefault("vault_crds_db_root_password", secrets.token_urlsafe(24))
        hosts = data.setdefault("vault_crds_secrets", {})
        for host in self.inventory.groups.get("crds_servers", []):
            entry = hosts.setdefault(host, {})
            entry.setdefault("db_password", secrets.token_urlsafe(24))
            entry.setdefault("secret_key", secrets.token_urlsafe(50))
            entry.setdefault("submitters", [{"name": "lab-submitter",
                                             "email": "lab-submitter@lab.invalid",
                                             "password": secrets.token_urlsafe(24)}])
        if json.dumps(data, sort_keys=True) == before:
            return
        # JSON is YAML: no plaintext ever touches the disk.
        plaintext = "---\n" + json.dumps(data, indent=2) + "\n"
        partial = VAULT_FILE.with_name(".vault.yml.partial")
        done = subprocess.run(
            [str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-id",
             f"{VAULT_ID}@{VAULT_CLIENT}", "--encrypt-vault-id", VAULT_ID,
             "--output", str(partial), "-"],
            input=plaintext, capture_output=True, text=True, cwd=ROOT, check=False,
        )
        if done.returncode:
            partial.unlink(missing_ok=True)
            raise LabError(f"ansible-vault encrypt failed: {done.stderr.strip()}")
        partial.chmod(0o600)
        verb = "completed" if before != "{}" else "generated"
        partial.rename(VAULT_FILE)
        changes.setdefault("vault", []).append(str(VAULT_FILE.relative_to(ROOT)))
        echo(f"{verb} the lab vault {VAULT_FILE.relative_to(ROOT)} (secrets not shown)")

    def _read_vault(self) -> dict:
        done = subprocess.run(
            [str(VENV_BIN / "ansible-vault"), "view", "--vault-id",
             f"{VAULT_ID}@{VAULT_CLIENT}", str(VAULT_FILE)],
            capture_output=True, text=True, cwd=ROOT, check=False)
        if done.returncode:
            raise LabError(f"the lab vault {VAULT_FILE.relative_to(ROOT)} cannot be opened "
                           f"({done.stderr.strip()[:200]}): its password is "
                           ".cache/lab/vault-password; if that was lost, remove the vault and "
                           "run `invoke lab.up` (new secrets; converge again)")
        import yaml

        return yaml.safe_load(done.stdout) or {}

    def _ensure_ca(self, changes: dict, echo: Echo) -> None:
        if self.ca_bundle.exists() and (self.ca_dir / "ca.key").exists():
            return
        echo(f"creating the lab CA in {self.ca_dir.relative_to(ROOT)}")
        done = subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "-i", str(INVENTORIES / "lab"),
             str(CA_PLAYBOOK), "-e", f"crds_tls_ca_dir={self.ca_dir}"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )
        if done.returncode:
            raise LabError(f"the lab CA playbook failed:\n{done.stdout[-3000:]}")
        changes.setdefault("ca", []).append(str(self.ca_bundle.relative_to(ROOT)))

    def _ensure_network_and_volumes(self, changes: dict) -> None:
        if self.network not in self.own_networks():
            podman("network", "create", "--label", self.label, self.network)
            changes.setdefault("network", []).append(self.network)
        have = set(self.own_volumes())
        for volume in self.volumes.values():
            if volume not in have:
                podman("volume", "create", "--label", self.label, volume)
                changes.setdefault("volumes", []).append(volume)

    def _create(self, s: Standin, image: str) -> None:
        argv = ["run", "-d", "--name", s.container, "--hostname", s.hostname,
                "--network", self.network, "--network-alias", s.hostname,
                "--label", self.label, "--label", f"{HOST_LABEL}={s.hostname}",
                "--systemd", "always", "-p", f"{s.address}:{SSH_PORT}:22"]
        for port in s.ports:
            argv += ["-p", f"{s.address}:{port}:{port}"]
        for volume, path, mode in s.mounts:
            argv += ["-v", f"{volume}:{path}" + (":ro" if mode == "ro" else "")]
        podman(*argv, image, "/sbin/init")

    def _revive(self, s: Standin, c: dict) -> str:
        """Start the container if it is stopped: "running", "started", or "dead" when it
        cannot run any more (its record says running or stopping, its processes are gone)."""
        verdict = "running"
        if c.get("State") in ("exited", "stopped", "created", "configured"):
            if podman("start", s.container, check=False).returncode:
                return "dead"
            verdict = "started"
        elif c.get("State") != "running":
            return "dead"
        alive = podman("exec", s.container, "true", check=False).returncode == 0
        return verdict if alive else "dead"

    def _remove_containers(self, names: list[str]) -> None:
        """Remove the containers, dead records included. A record that outlived its
        processes (the machine was restored from a snapshot, or conmon was killed) makes
        the first `podman rm -f` time out waiting for an exit file conmon will never write;
        podman marks it exited then, and a second try removes it."""
        first = podman("rm", "-f", "-t", "10", *names, check=False)
        if not first.returncode:
            return
        left = sorted(set(names) & set(self.containers()))
        if left:
            podman("rm", "-f", "-t", "0", *left, check=False)
            left = sorted(set(left) & set(self.containers()))
        if left:
            err = (first.stderr or "").strip()
            raise LabError(f"podman could not remove {', '.join(left)}: {err}; "
                           "see `podman ps -a`, then run lab.down again")

    def _authorize(self, s: Standin, pubkey: str) -> None:
        script = ("set -e; d=/home/admin/.ssh; install -d -m 0700 -o admin -g admin $d; "
                  "cat > $d/authorized_keys; chown admin:admin $d/authorized_keys; "
                  "chmod 0600 $d/authorized_keys")
        podman("exec", "-i", s.container, "sh", "-c", script, input=pubkey)

    def _forget_host_key(self, s: Standin) -> None:
        if self.known_hosts.exists():
            subprocess.run(["ssh-keygen", "-R", f"[{s.address}]:{SSH_PORT}", "-f",
                            str(self.known_hosts)], capture_output=True, check=False)

    def ssh_ok(self, s: Standin) -> bool:
        done = subprocess.run(
            [*self.ssh_argv(s), "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "true"],
            capture_output=True, check=False, stdin=subprocess.DEVNULL,
        )
        return done.returncode == 0

    def wait_for_ssh(self, standins: Iterable[Standin], timeout: float = SSH_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout

        def wait(s: Standin) -> str | None:
            while time.monotonic() < deadline:
                if self.ssh_ok(s):
                    return None
                time.sleep(1)
            return s.hostname

        with ThreadPoolExecutor(max_workers=10) as pool:
            late = [h for h in pool.map(wait, list(standins)) if h]
        if late:
            raise LabError(
                f"no SSH answer within {timeout:.0f}s from {', '.join(late)}: see "
                f"`podman logs {self.name}-<host>` and `invoke lab.status`"
            )

    # ----------------------------------------------------------------- down

    def plan_down(self) -> dict[str, list[str]]:
        return {"containers": sorted(self.containers()), "networks": self.own_networks(),
                "volumes": self.own_volumes()}

    def down(self, plan: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
        plan = plan or self.plan_down()
        if plan["containers"]:
            self._remove_containers(plan["containers"])
        for network in plan["networks"]:
            podman("network", "rm", network)
        if plan["volumes"]:
            podman("volume", "rm", *plan["volumes"])
        self.known_hosts.unlink(missing_ok=True)
        return plan


ANY = "0.0.0.0"  # noqa: S104 - a published port on every address also holds ours


def _port_holder(address: str, port: int, containers: list[dict]) -> str | None:
    """Who holds address:port, or None when it is free."""
    for row in containers:
        for mapping in row.get("Ports") or []:
            if mapping.get("host_port") == port and mapping.get("host_ip") in (address, "", ANY):
                return f"container {row['Names'][0]!r}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            pass
        else:
            return None
    done = subprocess.run(["ss", "-Hltnp", f"src {address}:{port}"], capture_output=True,
                          text=True, check=False)
    found = re.search(r'users:\(\("([^"]+)",pid=(\d+)', done.stdout or "")
    if found:
        return f"process {found.group(1)!r} (pid {found.group(2)})"
    return "another process"
