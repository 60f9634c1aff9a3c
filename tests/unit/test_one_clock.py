"""One clock: every backup stamp is written and read as UTC, whatever the time zone of the
machine that writes or reads it (the servers' cron, the workstation, the agent)."""

from __future__ import annotations

import json
import subprocess
import sys

from fleet.paths import ROOT

PROBE = r"""
import datetime as dt, json, sys, tempfile, time
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/app"]
from crds_server.jobs.backup import stamp as cron_stamp
from fleet.ops import agent
from fleet.ops.core import stamp as ops_stamp
utc = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
local = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
root = Path(tempfile.mkdtemp())
for s in (cron_stamp(), ops_stamp()):
    (root / s).mkdir(exist_ok=True)
ages = [b["age_s"] for b in agent.cmd_backups({"dated_root": str(root),
                                               "exchange": str(root / "none")})["dated"]]
print(json.dumps({"utc": utc, "local": local, "cron": cron_stamp(), "ops": ops_stamp(),
                  "ages": ages, "offset": time.localtime().tm_gmtoff}))
"""


def probe(tz: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], env={"TZ": tz},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_stamps_and_ages_are_utc_in_any_time_zone():
    for tz in ("Pacific/Auckland", "America/Los_Angeles", "UTC"):
        seen = probe(tz)
        if tz != "UTC":
            assert seen["offset"] != 0 and seen["local"] != seen["utc"], seen  # a real zone
        assert seen["cron"][:11] == seen["utc"][:11] == seen["ops"][:11], seen
        assert all(0 <= age < 60 for age in seen["ages"]), seen  # made now, read as now
