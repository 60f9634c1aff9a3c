"""crds_server.repro: affected datasets between seeded contexts.

The grouped (fast) engine is proven against two brute forces: crds's own per-dataset
loop in-process, and the real `crds bestrefs --print-affected` CLI in a subprocess on
a sample of datasets."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from crds_server.archive import DatasetService, StandInDatasetService, generate_datasets
from crds_server.repro import (
    affected_datasets,
    format_subject,
    ids_text,
    mail_log,
    subject,
    truncate_log,
    write_ids_gz,
)
from crds_server.repro.engine import lookup_second
from crds_server.seeding import generate
from hypothesis import given, settings
from hypothesis import strategies as st

OBSERVATORIES = ("hst", "jwst")
COUNT = 3000
SAMPLE = 300
SERVERLESS = "https://crds-serverless-mode.stsci.edu"
SUBJECT = re.compile(r"(OK|ERRORS|FAILED): CRDS (hst|jwst) \w+ datasets affected "
                     r"\w+\.pmap --> \w+\.pmap on \d{4}-\d\d-\d\d-\d\d:\d\d:\d\d\.\d\d : "
                     r"\d+ affected")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """{obs: (cache, manifest, service)}"""
    out = {}
    for obs in OBSERVATORIES:
        base = tmp_path_factory.mktemp(f"repro_{obs}")
        man = generate(obs, base / "cache", contexts=6)
        generate_datasets(base / "cache", base / "ds.sqlite3", COUNT, seed=11)
        out[obs] = (base / "cache", man, StandInDatasetService(base / "ds.sqlite3"))
    yield out
    for _c, _m, svc in out.values():
        svc.close()


def pairs(man):
    pmaps = [h[1] for h in man["history"]]
    return list(zip(pmaps, pmaps[1:], strict=False))


def all_ids(svc):
    return [i for instr in svc.instruments() for i in svc.dataset_ids(instr)]


def crds_env(cache: Path, obs: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_PATH=str(cache), CRDS_SERVER_URL=SERVERLESS, CRDS_OBSERVATORY=obs,
               CRDS_MODE="local")
    return env


def changed_types(cache: Path, obs: str, old: str, new: str) -> dict[str, list[str]]:
    """The reference types each instrument's rules change between the contexts, as crds's
    own affected-datasets mode finds them (crds.diff's MappingDifferencer, the same
    arguments bestrefs --diffs-only gives it), in a process of its own: never the engine's
    own list."""
    code = ("import json, sys; from crds import diff\n"
            "d = diff.MappingDifferencer(sys.argv[1], sys.argv[2], sys.argv[3], "
            "include_header_diffs=True, hide_boring_diffs=True)\n"
            "print(json.dumps({i: sorted(t) for i, t in d.get_affected().items()}))")
    done = subprocess.run([sys.executable, "-c", code, obs, old, new],
                          env=crds_env(cache, obs), capture_output=True, text=True,
                          timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cli_affected(cache: Path, obs: str, headers: dict, old: str, new: str, tmp: Path) -> set:
    """Brute force with the real client: crds bestrefs on every header, for the types
    crds.diff says each instrument's rules change, printing the product ids whose best
    references differ between the contexts. Nothing of the engine is used: not its list of
    changed types, not its helpers."""
    found: set[str] = set()
    for instr, types in changed_types(cache, obs, old, new).items():
        mine = {i: h for i, h in headers.items()
                if str(h.get("INSTRUME", h.get("META.INSTRUMENT.NAME"))).lower() == instr}
        if not mine:
            continue
        path = tmp / f"sample_{instr}.json"
        path.write_text("".join(json.dumps({k: v}) + "\n" for k, v in sorted(mine.items())))
        proc = subprocess.run(
            [sys.executable, "-m", "crds.bestrefs", "--load-pickles", str(path), f"--{obs}",
             "--old-context", old, "--new-context", new, "--print-affected", "--types", *types,
             "--undefined-differences-matter", "--na-differences-matter"],
            env=crds_env(cache, obs), cwd=tmp, capture_output=True, text=True, timeout=600,
            check=False)
        assert "Affected products =" in proc.stderr + proc.stdout, proc.stderr[-3000:]
        found |= {line.strip() for line in proc.stdout.splitlines() if line.strip()}
    return found


# ---------------------------------------------------------------------------- correctness


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_grouped_equals_crds_per_dataset_loop_for_every_adjacent_pair(world, obs):
    cache, man, svc = world[obs]
    total = 0
    for old, new in pairs(man):
        fast = affected_datasets(svc, old, new, cache=cache)
        slow = affected_datasets(svc, old, new, cache=cache, mode="per-dataset")
        assert fast.failure == slow.failure == "", (fast.log_text[-2000:], slow.failure)
        assert fast.affected_ids == slow.affected_ids, (old, new)
        assert fast.affected_datasets == slow.affected_datasets
        assert fast.datasets == slow.datasets and fast.errors == slow.errors
        assert fast.disposition == slow.disposition
        assert {k: (v.affected_datasets, v.types, v.errors) for k, v in fast.instruments.items()} \
            == {k: (v.affected_datasets, v.types, v.errors) for k, v in slow.instruments.items()}
        assert fast.cases < fast.datasets / 10, "grouping should collapse the datasets"
        total += fast.count
    assert total > 0, "some adjacent pair must affect datasets"


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_grouped_equals_the_real_crds_bestrefs_cli_on_a_sample(world, obs, tmp_path):
    cache, man, svc = world[obs]
    sample = sorted(random.Random(5).sample(all_ids(svc), SAMPLE))
    headers = svc.headers_by_id(sample)
    seen = 0
    for old, new in pairs(man):
        fast = affected_datasets(svc, old, new, cache=cache, only_ids=sample)
        assert fast.failure == ""
        assert fast.datasets <= SAMPLE
        expected = cli_affected(cache, obs, headers, old, new, tmp_path)
        assert set(fast.affected_ids) == expected, (old, new)
        seen += fast.count
    assert seen > 0


def test_boundary_dates_group_exactly(world):
    """Datasets on, just before and just after every useafter date, with fractional
    seconds, other date spellings and broken dates: grouped == per-dataset."""
    cache, man, svc = world["hst"]
    base = svc.headers_by_id(svc.dataset_ids("acs")[:1] + svc.dataset_ids("cos")[:1]
                             + svc.dataset_ids("wfc3")[:1])
    mapdir = cache / "mappings" / "hst"
    useafters = sorted({m for p in mapdir.glob("*.rmap")
                        for m in re.findall(r"'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)'", p.read_text())})
    times = []
    for ua in useafters:
        day, clock = ua.split()
        hh, mm, ss = clock.split(":")
        before = f"{hh}:{mm}:{int(ss) - 1:02d}" if ss != "00" else f"{hh}:{int(mm) - 1:02d}:59" \
            if mm != "00" else None
        times += [(day, clock), (day, clock + ".000"), (day, clock + ".000001"),
                  (day, clock + ".5")]
        if before and not before.startswith("-"):
            times += [(day, before), (day, before + ".999999")]
    times += [("2021/05/05", "00:00:00"), ("2021-05-05", "00:00"), ("UNDEFINED", "00:00:00"),
              ("2021-02-30", "00:00:00"), ("2030-01-01", "00:00:00")]
    headers = {}
    for n, (day, clock) in enumerate(times):
        for m, (_id, hdr) in enumerate(sorted(base.items())):
            ident = f"X{n:04d}{m}:X{n:04d}{m}"
            headers[ident] = dict(hdr, **{"DATE-OBS": day, "TIME-OBS": clock})

    class DictService(DatasetService):
        observatory = "hst"

        def instruments(self):
            return sorted({h["INSTRUME"].lower() for h in headers.values()})

        def count(self, instrument=None):
            return len(self.dataset_ids(instrument)) if instrument else len(headers)

        def dataset_ids(self, instrument, since=None):
            return sorted(i for i, h in headers.items() if h["INSTRUME"].lower() == instrument)

        def headers_by_id(self, ids):
            return {i: dict(headers[i]) for i in ids if i in headers}

    dsvc = DictService()
    for old, new in pairs(man):
        fast = affected_datasets(dsvc, old, new, cache=cache)
        slow = affected_datasets(dsvc, old, new, cache=cache, mode="per-dataset")
        assert fast.affected_datasets == slow.affected_datasets, (old, new)
        assert fast.errors == slow.errors and fast.disposition == slow.disposition
        assert fast.cases < fast.datasets


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2099, 12, 31)),
       st.integers(min_value=0, max_value=6), st.sampled_from(["", "0", "5", "123"]))
def test_fast_lookup_second_is_crds_reformat_date(when, digits, tail):
    from crds.core import timestamp

    raw = when.strftime("%Y-%m-%d %H:%M:%S")
    if digits:
        raw += "." + (f"{when.microsecond:06d}"[:digits - len(tail[:digits])] + tail)[:digits]
    assert lookup_second(raw) == timestamp.reformat_date(raw)[:19]


def test_non_canonical_dates_take_the_slow_path():
    assert lookup_second("2021/05/05 00:00:00") is None
    assert lookup_second("2021-02-30 00:00:00") is None
    assert lookup_second("2021-05-05T00:00:00") is None
    assert lookup_second("2021-05-05 00:00:00.1234567") is None


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_same_context_twice_affects_nothing(world, obs):
    cache, man, svc = world[obs]
    ctx = man["operational"]
    result = affected_datasets(svc, ctx, ctx, cache=cache, use="test")
    assert result.count == 0 and result.disposition == "OK" and result.affected_types == {}
    assert "No instruments were affected" in result.log_text
    assert subject(result).startswith("OK: CRDS ") and subject(result).endswith(": 0 affected")


def test_result_details_and_determinism(world, tmp_path):
    cache, man, svc = world["hst"]
    old, new = pairs(man)[-1]
    one = affected_datasets(svc, old, new, cache=cache, use="ops")
    two = affected_datasets(svc, old, new, cache=cache, use="ops")
    assert one.affected_ids == two.affected_ids and one.count > 0
    assert set(one.affected_types) == set(one.instruments)
    assert one.datasets == sum(s.datasets for s in one.instruments.values()) <= COUNT
    assert one.count == len({d.split(":")[0].lower() for d in one.affected_datasets})
    assert all(i == i.lower() and ":" not in i for i in one.affected_ids)
    assert "Mapping differences from" in one.log_text and "Affected products =" in one.log_text
    assert json.loads(json.dumps(one.summary()))["affected"] == one.count
    # ids file: one per line, gzipped, byte-identical for equal results
    a = write_ids_gz(one, tmp_path / "a.txt.gz")
    b = write_ids_gz(two, tmp_path / "b.txt.gz")
    assert a.read_bytes() == b.read_bytes()
    assert gzip.decompress(a.read_bytes()).decode().splitlines() == one.affected_ids
    assert ids_text(one).count("\n") == one.count
    text = mail_log(one)
    assert text.splitlines()[1].startswith(f"CRDS hst ops datasets affected {old} --> {new} on ")
    assert text.splitlines()[-2] == subject(one)
    assert SUBJECT.fullmatch(subject(one))


def test_failed_run_is_reported_not_raised(world):
    cache, man, svc = world["hst"]
    result = affected_datasets(svc, "hst_0001.pmap", "hst_9999.pmap", cache=cache)
    assert result.disposition == "FAILED" and result.failure and result.count == 0
    assert subject(result).startswith("FAILED: CRDS hst dev datasets affected hst_0001.pmap "
                                      "--> hst_9999.pmap on ")
    assert subject(result).endswith(" : 0 affected")


def test_errors_disposition(world):
    """A dataset the new context cannot match: ERRORS, and it is not suggested."""
    cache, man, svc = world["hst"]
    good = svc.headers_by_id(svc.dataset_ids("acs")[:3])
    headers = dict(good)
    headers["JBAD01XXQ:JBAD01XXQ"] = dict(next(iter(good.values())), FILTER1="F999W")

    class Two(DatasetService):
        observatory = "hst"

        def instruments(self):
            return ["acs"]

        def count(self, instrument=None):
            return len(headers)

        def dataset_ids(self, instrument, since=None):
            return sorted(headers) if instrument == "acs" else []

        def headers_by_id(self, ids):
            return {i: headers[i] for i in ids}

    result = affected_datasets(Two(), pairs(man)[1][0], pairs(man)[1][1], cache=cache)
    assert result.affected_types["acs"] == ["pfltfile"]
    assert result.disposition == "ERRORS" and result.errors == 1
    assert "jbad01xxq" not in result.affected_ids
    assert result.error_classes


# ---------------------------------------------------------------------------- mail format


def test_subject_matches_seed_004_sample():
    when = datetime(2014, 4, 23, 15, 20, 27, 960000)
    assert format_subject("FAILED", "hst", "dev", "hst_0211.pmap", "hst_0212.pmap", when, 0) == \
        "FAILED: CRDS hst dev datasets affected hst_0211.pmap --> hst_0212.pmap on " \
        "2014-04-23-15:20:27.96 : 0 affected"
    assert format_subject("OK", "jwst", "ops", "jwst_0001.pmap", "jwst_0002.pmap",
                          datetime(2024, 1, 2, 3, 4, 5, 6000), 12) == \
        "OK: CRDS jwst ops datasets affected jwst_0001.pmap --> jwst_0002.pmap on " \
        "2024-01-02-03:04:05.00 : 12 affected"
    with pytest.raises(ValueError):
        format_subject("FAIL", "hst", "dev", "a.pmap", "b.pmap", when, 0)


def test_log_truncation_rules():
    short = "".join(f"line {i}\n" for i in range(400))
    assert truncate_log(short) == short
    long = [f"line {i}" for i in range(1000)]
    out = truncate_log("\n".join(long) + "\n").splitlines()
    assert out[:200] == long[:200] and out[-200:] == long[-200:]
    assert len(out) == 401 and "600 log lines omitted" in out[200]
    just = [f"l{i}" for i in range(401)]
    out = truncate_log("\n".join(just)).splitlines()
    assert out[:200] == just[:200] and out[-200:] == just[-200:] and "1 log lines" in out[200]
