"""Helpers for the lab tests: run the commands a user types, against the
throw-away test lab (its own name and loopback block, never a developer's lab)."""

from __future__ import annotations

import json
import os
import subprocess

from fleet.paths import ROOT, VENV_BIN

TEST_LAB = {"CRDS_LAB_NAME": "crdstest", "CRDS_LAB_BLOCK": "9"}


def lab_env() -> dict[str, str]:
    env = dict(os.environ, **TEST_LAB)
    env["CONTAINERS_CONF"] = str(ROOT / "lab" / "containers.conf")
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    return env


def run(*argv: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(list(argv), cwd=ROOT, env=lab_env(), capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    if check and done.returncode:
        raise AssertionError(f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def invoke(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(str(VENV_BIN / "invoke"), *args, check=check)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("podman", *args, check=check)


def status() -> dict[str, dict]:
    rows = json.loads(invoke("lab.status", "--json").stdout)
    return {row["host"]: row for row in rows}


