"""The lab's commands refuse bad input with a message that says what to do
(no containers needed)."""

from __future__ import annotations

from labkit import invoke, run

from fleet.paths import VENV_BIN


def test_ssh_to_unknown_server_lists_known_ones():
    done = invoke("lab.ssh", "hst-tset", check=False)
    assert done.returncode != 0
    assert "unknown server 'hst-tset'" in done.stderr
    for name in ("hst-test", "jwst-cit", "crdsdb", "crdsmail"):
        assert name in done.stderr


def test_bad_lab_block_is_a_clear_error():
    done = run("env", "CRDS_LAB_BLOCK=300", str(VENV_BIN / "invoke"), "lab.status", check=False)
    assert done.returncode != 0
    assert "CRDS_LAB_BLOCK" in done.stderr and "0-255" in done.stderr


def test_bad_lab_name_is_a_clear_error():
    done = run("env", "CRDS_LAB_NAME=My_Lab", str(VENV_BIN / "invoke"), "lab.status",
               check=False)
    assert done.returncode != 0
    assert "CRDS_LAB_NAME" in done.stderr


def test_status_of_a_lab_never_brought_up_shows_absent():
    done = run("env", "CRDS_LAB_NAME=crdsnever", str(VENV_BIN / "invoke"), "lab.status",
               "--json", check=False)
    assert done.returncode == 0, done.stderr
    assert '"state": "absent"' in done.stdout and '"running"' not in done.stdout
