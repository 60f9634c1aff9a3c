"""crds_server.archive: the STAND-IN dataset-parameter service and its synthetic datasets,
judged by the real crds client (bestrefs in a subprocess) against seeded rules."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from crds_server.archive import (
    NOT_FOUND,
    DatasetService,
    StandInDatasetService,
    generate_datasets,
)
from crds_server.seeding import generate

OBSERVATORIES = ("hst", "jwst")
COUNT = 3000
SERVERLESS = "https://crds-serverless-mode.stsci.edu"
HST_ID = re.compile(r"[IJL][0-9A-Z]{5}(?:[0-9A-Z]{2}Q|0[1-9]0):[IJL][0-9A-Z]{5}[A-Z]{2}Q")
JWST_ID = re.compile(r"(JW\d{11}_\d{5}_\d{5}\.[A-Z0-9]+):\1")


def crds_env(dest: Path, obs: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_PATH=str(dest), CRDS_SERVER_URL=SERVERLESS, CRDS_OBSERVATORY=obs,
               CRDS_MODE="local")
    return env


def run_bestrefs(dest: Path, obs: str, headers: dict, *args: str, tmp: Path):
    """The real `crds bestrefs` on headers saved as crds's --load-pickles JSON."""
    path = tmp / f"headers_{obs}.json"
    path.write_text("".join(json.dumps({k: v}) + "\n" for k, v in sorted(headers.items())))
    return subprocess.run([sys.executable, "-m", "crds.bestrefs", "--load-pickles", str(path),
                           f"--{obs}", *args], env=crds_env(dest, obs), cwd=tmp,
                          capture_output=True, text=True, timeout=600, check=False)


def error_count(output: str) -> int:
    found = re.findall(r"CRDS - INFO -\s+(\d+) errors", output)
    assert found, output[-3000:]
    return int(found[-1])


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """{obs: (cache, manifest, db path, generator summary)}"""
    out = {}
    for obs in OBSERVATORIES:
        base = tmp_path_factory.mktemp(f"standin_{obs}")
        man = generate(obs, base / "cache", contexts=6)
        db = base / f"{obs}.sqlite3"
        out[obs] = (base / "cache", man, db, generate_datasets(base / "cache", db, COUNT, seed=3))
    return out


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_service_counts_ids_and_contract(standin, obs):
    cache, man, db, info = standin[obs]
    with StandInDatasetService(db) as svc:
        assert isinstance(svc, DatasetService)
        assert svc.observatory == obs and svc.meta["kind"].startswith("STAND-IN")
        assert svc.count() == COUNT == sum(info["instruments"].values())
        assert svc.instruments() == sorted(info["instruments"]) and len(svc.instruments()) >= 2
        ids = []
        for instr in svc.instruments():
            mine = svc.dataset_ids(instr)
            assert mine == sorted(mine) and len(mine) == svc.count(instr)
            ids += mine
        assert len(set(ids)) == COUNT
        pattern = HST_ID if obs == "hst" else JWST_ID
        assert [i for i in ids if not pattern.fullmatch(i)] == []
        headers = svc.headers_by_id(ids[:50] + ["NOPE:NOPE"])
        assert all(k.count(":") == 1 for k in headers)
        assert headers["NOPE:NOPE"].startswith(NOT_FOUND)
        instr_key = "INSTRUME" if obs == "hst" else "META.INSTRUMENT.NAME"
        date_key = "DATE-OBS" if obs == "hst" else "META.OBSERVATION.DATE"
        for i in ids[:50]:
            assert headers[i][instr_key].lower() in svc.instruments()
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", headers[i][date_key])
            assert all(isinstance(v, str) for v in headers[i].values())
        # lower case ids work; a product id expands to all its members
        assert svc.headers_by_id([ids[0].lower()]) == {ids[0]: headers[ids[0]]}
        if obs == "hst":
            products = {}
            for i in ids:
                products.setdefault(i.split(":")[0], []).append(i)
            assoc = [p for p, members in products.items() if len(members) > 1]
            single = [p for p, members in products.items() if len(members) == 1]
            assert assoc and single and all(p.endswith("0") for p in assoc)
            got = svc.headers_by_id([assoc[0]])
            assert sorted(got) == sorted(products[assoc[0]])
            # members of an association share their matching parameters
            strip = {"DATE-OBS", "TIME-OBS"}
            shapes = {json.dumps({k: v for k, v in h.items() if k not in strip}, sort_keys=True)
                      for h in got.values()}
            assert len(shapes) == 1


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_since_filter_is_crds_exptime(standin, obs):
    from crds import matches

    cache, man, db, info = standin[obs]
    with StandInDatasetService(db) as svc:
        instr = svc.instruments()[0]
        every = svc.headers_by_id(svc.dataset_ids(instr))
        since = "2021-05-05 00:00:00"
        expected = sorted(i for i, h in every.items() if matches.get_exptime(h) >= since)
        assert svc.dataset_ids(instr, since) == expected
        assert 0 < len(expected) < len(every)


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_dates_lie_within_the_history(standin, obs):
    cache, man, db, info = standin[obs]
    last = man["history"][-1][0]
    with sqlite3.connect(db) as con:
        lo, hi = con.execute("SELECT min(exptime), max(exptime) FROM datasets").fetchone()
    assert lo[:10] >= "2002-03-01" and hi[:10] <= str(int(last[:4]) + 1)
    # spread: every year of the history has datasets
    with sqlite3.connect(db) as con:
        years = {r[0] for r in con.execute("SELECT DISTINCT substr(exptime, 1, 4) FROM datasets")}
    assert {str(y) for y in range(2019, 2025)} <= years


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_every_generated_dataset_gets_best_references(standin, obs, tmp_path):
    """The real crds bestrefs (subprocess) against the generated context: no errors."""
    cache, man, db, info = standin[obs]
    assert info["context"] == man["operational"] and not info["dropped_cases"]
    with StandInDatasetService(db) as svc:
        headers = {i: h for instr in svc.instruments()
                   for i, h in svc.headers_by_id(svc.dataset_ids(instr)).items()}
    assert len(headers) == COUNT
    proc = run_bestrefs(cache, obs, headers, "--new-context", man["operational"],
                        "--undefined-differences-matter", tmp=tmp_path)
    output = proc.stdout + proc.stderr
    assert error_count(output) == 0, output[-4000:]
    assert "NOT FOUND" not in output


def test_generation_is_deterministic(standin, tmp_path):
    cache, man, db, info = standin["hst"]

    def dump(path):
        with sqlite3.connect(path) as con:
            return (con.execute("SELECT * FROM datasets ORDER BY dataset_id").fetchall(),
                    con.execute("SELECT * FROM param_sets ORDER BY id").fetchall())

    again = tmp_path / "again.sqlite3"
    summary = generate_datasets(cache, again, COUNT, seed=3)
    assert dump(again) == dump(db)
    assert {k: v for k, v in summary.items() if k not in ("seconds", "db")} == \
        {k: v for k, v in info.items() if k not in ("seconds", "db")}
    generate_datasets(cache, other := tmp_path / "other.sqlite3", COUNT, seed=4)
    assert dump(other)[0] != dump(db)[0]


def test_generator_rejects_bad_input(standin, tmp_path):
    cache = standin["hst"][0]
    with pytest.raises(ValueError):
        generate_datasets(cache, tmp_path / "x.sqlite3", 0)
    with pytest.raises(FileNotFoundError):
        StandInDatasetService(tmp_path / "missing.sqlite3")


def test_generation_at_scale(standin, tmp_path):
    """100,000 datasets (how fast: bench/affected_datasets.py)."""
    cache = standin["jwst"][0]
    info = generate_datasets(cache, tmp_path / "big.sqlite3", 100_000, seed=1)
    assert info["count"] == 100_000
    with StandInDatasetService(tmp_path / "big.sqlite3") as svc:
        assert svc.count() == 100_000
