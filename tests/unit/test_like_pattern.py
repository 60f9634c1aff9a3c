"""The catalog's name patterns (Browse Database, Recent Activity) as SQL LIKE: what people
type matches what they mean, and nothing in a pattern is a wildcard it did not ask for."""

import sqlite3

import pytest
from crds_server.interactive.lookups import like_pattern

NAMES = ["hst_0005.pmap", "hst_acs_0005.imap", "hst_acs_darkfile_0005.rmap", "hstx0005.pmap",
         "a%b.fits", "a!b.fits", "32b1403dj_drk.fits"]


def matched(pattern: str) -> list[str]:
    db = sqlite3.connect(":memory:")
    db.execute("create table f (name text)")
    db.executemany("insert into f values (?)", [(n,) for n in NAMES])
    return sorted(r[0] for r in db.execute(
        "select name from f where name like ? escape '!'", (like_pattern(pattern),)))


@pytest.mark.parametrize(("pattern", "expected"), [
    ("hst_*.pmap", ["hst_0005.pmap"]),            # "_" is a character, not "any one"
    ("hst?0005.pmap", ["hst_0005.pmap", "hstx0005.pmap"]),
    ("darkfile", ["hst_acs_darkfile_0005.rmap"]),  # no wildcard: "contains"
    ("a%b.fits", ["a%b.fits"]),
    ("a!b.fits", ["a!b.fits"]),
    ("*_drk.fits", ["32b1403dj_drk.fits"]),
    ("nothing*", []),
])
def test_patterns_match_what_they_say(pattern, expected):
    assert matched(pattern) == expected
