"""The one converged lab that the integration tests run against (see tests/conftest.py).

The roles, ops and cron tests (marker `lab`) share one lab fleet, brought up and
converged with site.yml once per session. It has its own name and loopback block
(`crdsci` on 127.0.7.x, or $CRDS_TEST_LAB_NAME / $CRDS_TEST_LAB_BLOCK), so a developer's
`make lab` fleet (crdslab on 127.0.1.x) is never touched. It stays up after the run so
the next `make test` only re-converges (no change); remove it with
`CRDS_LAB_NAME=crdsci CRDS_LAB_BLOCK=7 invoke lab.down --yes`.

The lab tests' own throw-away lab (tests/lab, crdstest on 127.0.9.x) is separate:
it tests lab.up/lab.down themselves.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from fleet.paths import ROOT, VENV_BIN

FLEET_LAB = {
    "CRDS_LAB_NAME": os.environ.get("CRDS_TEST_LAB_NAME", "crdsci"),
    "CRDS_LAB_BLOCK": os.environ.get("CRDS_TEST_LAB_BLOCK", "7"),
}
# Set at import, before the test modules read it to build their commands' environment.
os.environ.update(FLEET_LAB)
os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "lab" / "containers.conf"))


def fleet_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **FLEET_LAB, **extra)
    env["CONTAINERS_CONF"] = str(ROOT / "lab" / "containers.conf")
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    return env


def fleet_run(*argv, timeout: float = 3600, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=ROOT, env=fleet_env(**extra), text=True,
                          capture_output=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)


class ConvergedLab:
    """The session's lab after its first site.yml converge."""

    name = FLEET_LAB["CRDS_LAB_NAME"]
    block = FLEET_LAB["CRDS_LAB_BLOCK"]

    def __init__(self, converge: subprocess.CompletedProcess, seconds: float):
        self.converge = converge
        self.converge_seconds = seconds

    @property
    def ca(self):
        return ROOT / ".cache" / "lab" / self.name / "ca" / "ca.crt"

    def site(self, *args: str) -> tuple[subprocess.CompletedProcess, float]:
        return site_playbook(*args)


# What the session's site.yml runs took, task by task (ansible.posix.profile_tasks), for the
# summary at the end of the run (tests/conftest.py): where a slow `make test` spends its time.
SITE_PROFILES: list[tuple[str, float, list[str]]] = []


def site_playbook(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    """site.yml on the session's lab, timed per task (its 12 slowest kept for the summary);
    returns the run and its seconds."""
    start = time.monotonic()
    done = fleet_run(VENV_BIN / "ansible-playbook", "site.yml", "-i", "inventories/lab", *args,
                     ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
                     PROFILE_TASKS_TASK_OUTPUT_LIMIT="12")
    seconds = time.monotonic() - start
    slowest = [ln for ln in done.stdout.splitlines() if re.search(r" -{3,} \d+\.\d+s$", ln)]
    SITE_PROFILES.append((" ".join(["site.yml", *args]), seconds, slowest))
    return done, seconds
