"""A throw-away lab for the integration tests: its own name and loopback block,
so a developer's lab (crdslab on 127.0.1.x) is never touched."""

from __future__ import annotations

import pytest
from labkit import TEST_LAB, invoke


@pytest.fixture(scope="session")
def lab():
    """The test lab, up; removed at the end whatever happened."""
    invoke("lab.down", "--yes", check=False)  # leftovers of an interrupted run
    try:
        invoke("lab.up")
        yield TEST_LAB["CRDS_LAB_NAME"]
    finally:
        invoke("lab.down", "--yes", check=False)
