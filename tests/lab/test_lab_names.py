"""`invoke lab.up` checks that the stand-ins find the database and mail hosts by name, and
fails in seconds, naming the missing piece and the fix, when they cannot (marker `lab`).

Its own lab (crdsnodns on 127.0.8.x) whose network is made beforehand without DNS, as a
network made before podman's DNS plugin was installed is: every name lookup fails there.
"""

from __future__ import annotations

import subprocess

import pytest
from labkit import lab_env

from fleet.paths import ROOT, VENV_BIN

pytestmark = pytest.mark.lab

NODNS = {"CRDS_LAB_NAME": "crdsnodns", "CRDS_LAB_BLOCK": "8"}


def run(*argv: str, check: bool = True):
    done = subprocess.run(list(argv), env={**lab_env(), **NODNS}, capture_output=True,
                          text=True, timeout=900, check=False, stdin=subprocess.DEVNULL,
                          cwd=ROOT)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_up_refuses_a_network_where_names_do_not_resolve():
    invoke = str(VENV_BIN / "invoke")
    run(invoke, "lab.down", "--yes", check=False)
    run("podman", "network", "create", "--disable-dns", "--label",
        f"crds.lab={NODNS['CRDS_LAB_NAME']}", f"{NODNS['CRDS_LAB_NAME']}-net")
    try:
        done = run(invoke, "lab.up", check=False)
        assert done.returncode != 0
        err = done.stderr
        assert "cannot find each other by name on crdsnodns-net" in err, err
        assert "tlhstcrds: cannot resolve crdsdb, crdsmail" in err, err
        assert "was created without DNS" in err and "lab.down --yes" in err, err
    finally:
        run(invoke, "lab.down", "--yes", check=False)
    # Negative control: the same lab on a network podman makes itself resolves and passes.
    try:
        run(invoke, "lab.up")
    finally:
        run(invoke, "lab.down", "--yes", check=False)
