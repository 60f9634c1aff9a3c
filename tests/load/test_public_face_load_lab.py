"""16 clients against hst-dev on the converged lab while one more client sends the worst
requests the limits let through (bench/public_face_load.py, 60 s cap in all).

This is issue 16's acceptance check for item 1 ("a long bestrefs call cannot stall the
others"), and it does not pass yet: on the 2-core CI machine the hostile phase cut the
throughput from 103 to 15 requests per second and doubled the bestrefs p99 (the 1000-dataset
get_best_references_by_header_map shares the two mod_wsgi daemons with everyone). It runs in
`make nightly` until that is fixed, so `make test` stays a check of what holds."""

from __future__ import annotations

import json
import sys

import pytest
from opskit import CA, url

from fleet.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from public_face_load import load  # noqa: E402

pytestmark = pytest.mark.lab

DEV = url(13)          # hst-dev
BESTREFS_P99_MS = 250  # the bound for get_best_references under the hostile load


def test_sixteen_clients_with_a_hostile_one_keep_bestrefs_fast(converged_lab):
    """16 clients repeat get_default_context, get_best_references and a download for 15 s,
    then 15 s more while one more client sends the worst requests (60 s cap in all). The
    hostile phase's bestrefs p99 stays under 250 ms, or, on a machine that cannot give that
    to 16 clients at all, under twice the same run's p99 without the hostile client."""
    calm = load(DEV, str(CA), "hst", clients=16, seconds=15)
    rough = load(DEV, str(CA), "hst", clients=16, seconds=15, hostile=True)
    print(json.dumps({"calm": calm, "hostile": rough})[:4000])
    for result in (calm, rough):
        assert result["error_count"] == 0, result["errors"]
        assert result["methods"]["get_best_references"]["n"] > 100, result
    assert rough["hostile_requests"] >= 8 and rough["hostile_max_s"] < 10, rough
    p99 = rough["methods"]["get_best_references"]["p99_ms"]
    bound = max(BESTREFS_P99_MS, 2 * calm["methods"]["get_best_references"]["p99_ms"])
    assert p99 < bound, (p99, bound, rough["methods"], calm["methods"])
