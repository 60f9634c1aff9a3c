"""The inventories: the real fleet and the lab describe the same servers and groups.

No lab needed: this reads inventories/ with ansible-inventory (via fleet.inventory)
and asks ansible-playbook which hosts a limit selects.
"""

from __future__ import annotations

import subprocess

import pytest

from fleet.inventory import Inventory, UnknownServer
from fleet.paths import ROOT, VENV_BIN

# The fleet (docs/design.md): short name -> VM.
FLEET = {
    "hst-ops": "plhstcrds", "hst-test": "tlhstcrds", "hst-dev": "dlhstcrds",
    "jwst-ops": "pljwcrds", "jwst-test": "tljwcrds", "jwst-dev": "dljwcrds",
    "jwst-bit": "jwdmsbcrds", "jwst-cit": "jwdmsccrds",
}
LAB_ONLY_GROUPS = {"database", "mail", "django", "lab_standins"}


@pytest.fixture(scope="module")
def real():
    return Inventory("hst,jwst")


@pytest.fixture(scope="module")
def lab():
    return Inventory("lab")


@pytest.mark.parametrize("spec", ["hst,jwst", "lab"])
def test_hosts_per_group(spec, request):
    inv = Inventory(spec)
    g = inv.groups
    assert g["hst"] == sorted(["plhstcrds", "tlhstcrds", "dlhstcrds"])
    assert g["jwst"] == sorted(["pljwcrds", "tljwcrds", "dljwcrds", "jwdmsbcrds", "jwdmsccrds"])
    assert g["crds_servers"] == sorted(FLEET.values())
    assert g["ops"] == sorted(["plhstcrds", "pljwcrds"])
    assert g["test"] == sorted(["tlhstcrds", "tljwcrds"])
    assert g["dev"] == sorted(["dlhstcrds", "dljwcrds"])
    assert g["frozen"] == sorted(["jwdmsbcrds", "jwdmsccrds"])
    for short, host in FLEET.items():
        obs, use = short.split("-")
        assert g[f"{obs}_{use}"] == [host]


def test_lab_adds_only_its_own_hosts(lab, real):
    assert set(lab.hosts) - set(real.hosts) == {"crdsdb", "crdsmail", "hst-django",
                                                 "jwst-django"}
    assert lab.groups["lab_standins"] == sorted([*FLEET.values(), "crdsdb", "crdsmail"])
    assert lab.groups["django"] == ["hst-django", "jwst-django"]


def test_lab_and_real_inventories_have_the_same_groups(lab, real):
    assert set(real.groups) <= set(lab.groups)
    assert set(lab.groups) - set(real.groups) <= LAB_ONLY_GROUPS
    for group, members in real.groups.items():
        extra = set(lab.groups[group]) - set(members)
        # Only the lab's own hosts may join a shared group (e.g. all, ungrouped).
        assert extra <= {"crdsdb", "crdsmail", "hst-django", "jwst-django"}, group
        assert set(members) <= set(lab.groups[group]), group


@pytest.mark.parametrize("spec", ["hst,jwst", "lab"])
def test_every_short_name_maps_to_exactly_one_host(spec):
    inv = Inventory(spec)
    shorts = [h.name for h in inv.servers()]
    assert len(shorts) == len(set(shorts))
    for short, host in FLEET.items():
        assert inv.server(short).hostname == host
        assert inv.server(host).name == short
        assert [h.hostname for h in inv.select([short])] == [host]


def test_site_limit_hst_test_selects_tlhstcrds_alone():
    def list_hosts(limit: str) -> list[str]:
        done = subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "site.yml", "-i", "inventories/hst",
             "-l", limit, "--list-hosts"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
        hosts = set()
        for line in done.stdout.splitlines():
            line = line.strip()
            if line and not line.startswith(("playbook:", "play #", "pattern:", "hosts (")):
                hosts.add(line)
        return sorted(hosts)

    assert list_hosts("hst_test") == ["tlhstcrds"]
    assert list_hosts("hst_dev") == ["dlhstcrds"]  # control: the limit decides


def test_unknown_server_error_lists_the_known_ones(real):
    with pytest.raises(UnknownServer) as info:
        real.server("hst-tset")
    message = str(info.value)
    assert "hst-tset" in message
    for short in FLEET:
        assert short in message


def test_unknown_inventory_is_a_clear_error():
    with pytest.raises(FileNotFoundError) as info:
        Inventory("hts")
    message = str(info.value)
    assert "'hts'" in message
    for name in ("hst", "jwst", "lab"):
        assert name in message


def test_lab_addresses_follow_the_block_and_are_unique(monkeypatch):
    monkeypatch.setenv("CRDS_LAB_BLOCK", "9")
    inv = Inventory("lab")
    standins = [inv.hosts[h] for h in inv.groups["lab_standins"]]
    addresses = [h.var("ansible_host") for h in standins]
    assert len(set(addresses)) == len(addresses)
    assert all(a.startswith("127.0.9.") for a in addresses)
    assert inv.hosts["tlhstcrds"].var("ansible_host") == "127.0.9.12"
    monkeypatch.setenv("CRDS_LAB_BLOCK", "1")
    assert inv.hosts["tlhstcrds"].var("ansible_host") == "127.0.1.12"
