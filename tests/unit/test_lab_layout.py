"""The lab's volume layout, read from the inventory alone (no podman): each server has
only its own Isilon tree, the global cache is writable only on the ops servers, and in the
backup exchange each server writes only its own folder."""

from __future__ import annotations

import os

import pytest

from fleet.lab import Lab


@pytest.fixture
def lab(monkeypatch):
    for key in ("CRDS_LAB_NAME", "CRDS_LAB_BLOCK"):
        monkeypatch.setenv(key, os.environ.get(key, ""))
    return Lab("layout", "9")


def mounts(lab: Lab, name: str) -> dict[str, tuple[str, str]]:
    return {path: (volume, mode) for volume, path, mode in lab.standin(name).mounts}


def test_each_server_mounts_only_its_own_isilon_tree(lab):
    dev = mounts(lab, "hst-dev")
    assert dev["/ifs/crds/hst/dev"] == ("layout-ifs-hst-dev", "rw")
    assert not any(p.startswith("/ifs/crds/") and p != "/ifs/crds/hst/dev" for p in dev)
    ifs = [v for s in lab.standins for v, p, _ in s.mounts if p.startswith("/ifs/")]
    assert len(ifs) == len(set(ifs)) == 8  # no tree shared between two servers


def test_global_cache_is_writable_only_where_ops_publishes(lab):
    assert mounts(lab, "hst-ops")["/grp/crds/cache"] == ("layout-grp", "rw")
    assert mounts(lab, "jwst-ops")["/grp/crds/cache"] == ("layout-grp", "rw")
    for name in ("hst-dev", "hst-test", "jwst-dev"):
        assert mounts(lab, name)["/grp/crds/cache"] == ("layout-grp", "ro")


def test_backup_exchange_own_folder_writable_observatorys_others_readonly(lab):
    test = mounts(lab, "hst-test")
    assert test["/eng/ssb/crds/backups/hst-test"] == ("layout-backups-hst-test", "rw")
    assert test["/eng/ssb/crds/backups/hst-ops"] == ("layout-backups-hst-ops", "ro")
    assert not any("jwst" in p for p in test)


def test_every_volume_is_created_once(lab):
    names = list(lab.volumes.values())
    assert len(names) == len(set(names)), names
    used = {v for s in lab.standins for v, _, _ in s.mounts}
    assert used == set(names)
