"""`invoke lab.*`: the lab's stand-ins (podman containers with systemd and sshd).

Thin: parse, confirm, call fleet.lab, report. CRDS_LAB_NAME / CRDS_LAB_BLOCK pick
which lab (default `crdslab` on 127.0.1.x).
"""

from __future__ import annotations

import json as jsonlib
import os
import sys

from invoke import Exit

from fleet import ui
from fleet.cli.common import command, task
from fleet.inventory import UnknownServer
from fleet.lab import Lab, LabError, build_images


def _lab() -> Lab:
    try:
        return Lab()
    except LabError as exc:
        raise Exit(f"lab: {exc}", code=2) from exc


def _err(message: str) -> None:
    print(message, file=sys.stderr)


@command(force="rebuild even when the recipe is unchanged (re-runs debootstrap)")
def images(c, force=False):
    """Build (or reuse) the lab's stand-in image, tagged by a hash of its recipe."""
    try:
        image = build_images(force=force, echo=_err)
    except LabError as exc:
        raise Exit(f"lab.images: {exc}", code=1) from exc
    print(image)


@task
def up(c):
    """Bring the lab up: key, vault, CA, network, volumes, one container per stand-in."""
    lab = _lab()
    try:
        changes = lab.up(echo=_err)
    except LabError as exc:
        raise Exit(f"lab.up: {exc}", code=1) from exc
    summary = "; ".join(f"{k}: {len(v)}" for k, v in changes.items()) or "nothing changed"
    print(f"lab {lab.name!r} is up ({len(lab.standins)} stand-ins answer SSH; {summary})")


@command()
def down(c, yes=False, dry_run=False):
    """Remove this lab's containers, network and volumes (only those labelled as its own)."""
    lab = _lab()
    try:
        plan = lab.plan_down()
    except LabError as exc:
        raise Exit(f"lab.down: {exc}", code=1) from exc
    if not any(plan.values()):
        print(f"lab {lab.name!r}: nothing to remove")
        return
    for kind, names in plan.items():
        if names:
            print(f"{kind}: {', '.join(names)}")
    if dry_run:
        print("dry run: nothing removed")
        return
    if not ui.confirm(f"remove all of the above (lab {lab.name!r})?", yes):
        raise Exit("lab.down: not confirmed (use --yes); nothing removed", code=1)
    try:
        lab.down(plan)
    except LabError as exc:
        raise Exit(f"lab.down: {exc}", code=1) from exc
    print(f"lab {lab.name!r} removed (the key and CA stay in {lab.state_dir})")


@command()
def status(c, json=False):
    """Where each stand-in answers: state, ssh command, URL, CA bundle."""
    lab = _lab()
    try:
        rows = lab.status()
    except LabError as exc:
        raise Exit(f"lab.status: {exc}", code=1) from exc
    if json:
        print(jsonlib.dumps(rows, indent=2))
        return
    ui.table(
        ["server", "host", "state", "url", "ssh (or: invoke lab.ssh <server>)"],
        [[r["name"], r["host"], r["state"], r["url"] or "-",
          f"ssh -p 2222 admin@{r['address']}"] for r in rows],
        title=f"lab {lab.name!r}",
    )
    print(f"SSH key: {lab.key}  known hosts: {lab.known_hosts}")
    print(f"CA bundle (trust it for the URLs): {lab.ca_bundle}")


@command(server="short name (hst-test) or hostname (tlhstcrds, crdsdb)")
def ssh(c, server):
    """Open a shell on a stand-in as admin (sudo for root)."""
    lab = _lab()
    try:
        argv = lab.ssh_argv(lab.standin(server))
    except (UnknownServer, LabError) as exc:
        raise Exit(f"lab.ssh: {exc}", code=2) from exc
    os.execvp(argv[0], argv)  # noqa: S606 - replace this process with ssh
