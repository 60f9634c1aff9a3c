"""The mirror direction rules, on the real fleet's inventory."""

from __future__ import annotations

import pytest

from fleet.inventory import Inventory
from fleet.policy import MirrorRefused, check_mirror


@pytest.fixture(scope="module")
def fleet():
    return Inventory("hst,jwst")


@pytest.mark.parametrize(("src", "dst"), [
    ("hst-ops", "hst-test"), ("hst-ops", "hst-dev"), ("hst-test", "hst-dev"),
    ("jwst-ops", "jwst-test"), ("jwst-ops", "jwst-dev"), ("jwst-test", "jwst-dev"),
])
def test_downward_mirrors_are_allowed(fleet, src, dst):
    direction = check_mirror(fleet.server(src), fleet.server(dst))
    assert not direction.is_restore


@pytest.mark.parametrize("name", ["hst-ops", "hst-dev", "jwst-ops", "jwst-bit"])
def test_restore_to_itself_is_allowed_everywhere(fleet, name):
    assert check_mirror(fleet.server(name), fleet.server(name)).is_restore


@pytest.mark.parametrize(("src", "dst", "why"), [
    ("jwst-dev", "jwst-ops", "not downward"),
    ("hst-test", "hst-ops", "not downward"),
    ("hst-dev", "hst-test", "not downward"),
    ("jwst-test", "jwst-bit", "not downward"),
    ("jwst-bit", "jwst-dev", "not downward"),
    ("hst-ops", "jwst-dev", "different observatories"),
])
def test_upward_or_sideways_mirrors_are_refused_with_the_rule(fleet, src, dst, why):
    with pytest.raises(MirrorRefused) as refused:
        check_mirror(fleet.server(src), fleet.server(dst), force=True)
    assert why in str(refused.value)
    assert "downward only" in str(refused.value)


@pytest.mark.parametrize("dst", ["jwst-bit", "jwst-cit"])
def test_an_i_and_t_destination_needs_force(fleet, dst):
    with pytest.raises(MirrorRefused, match="--force"):
        check_mirror(fleet.server("jwst-ops"), fleet.server(dst))
    assert not check_mirror(fleet.server("jwst-ops"), fleet.server(dst), force=True).is_restore
