"""Synthetic datasets for the STAND-IN archive service, valid for seeded CRDS rules.

    from crds_server.archive import generate_datasets, StandInDatasetService
    info = generate_datasets("/tmp/cache", "/tmp/hst_datasets.sqlite3", 100_000, seed=1)
    service = StandInDatasetService("/tmp/hst_datasets.sqlite3")

Given a CRDS cache tree written by :mod:`crds_server.seeding` (mappings + seed.json),
the generator reads one context with the crds library and, per instrument, joins the
match rows of all its rmaps into *cases*: parameter sets that every rmap of the
instrument matches (``N/A`` fields left free).  Free parameters take the values of
the seeding plan's example datasets (e.g. ACS ``FW1OFFST = 0``), reference switches
(``DARKCORR`` ...) are ``PERFORM``.  Each case is checked with crds bestrefs against
the context before use (cases with a NOT FOUND are dropped), so bestrefs succeeds for
every generated dataset under that context.  Older contexts may lack a row that
a case needs: those datasets are errors there, as real data would be.

Datasets are drawn deterministically (numpy, `seed`): instrument, case (skewed
weights), exposure start uniform between the case's earliest useafter and the last
context of the history.  HST ids are ipppssoot: associations ``J8BT05010`` with 2-6
members ``J8BT05NJQ`` sharing parameters minutes apart, and unassociated exposures
(product id = exposure id).  JWST ids are exposure file sets
``JW01024001001_02101_00001.MIRIMAGE`` (product = exposure, as crds assumes for JWST).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..repro.crdsenv import crds_cache, observatory_of
from .service import create_database

MAX_DATASETS = 5_000_000
MAX_CASES_PER_INSTRUMENT = 2_000
HST_INSTR_CHAR = {"acs": "j", "wfc3": "i", "cos": "l", "stis": "o", "nicmos": "n",
                  "wfpc2": "u", "fos": "y", "ghrs": "z"}
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_FREE = {"N/A", "*", ""}
_FMT = "%Y-%m-%d %H:%M:%S"


def _b36(number: int, width: int) -> str:
    out = ""
    for _ in range(width):
        number, digit = divmod(number, 36)
        out = _B36[digit] + out
    return out


def _epoch(text: str) -> int:
    return int(datetime.strptime(text, _FMT).replace(tzinfo=UTC).timestamp())


def load_manifest(cache: Path, obs: str) -> dict:
    for path in (cache / "config" / obs / "seed.json", cache / "seed.json"):
        if path.exists():
            man = json.loads(path.read_text())
            if man.get("observatory") == obs:
                return man
    raise FileNotFoundError(f"no seed.json for {obs} under {cache}")


def _templates(obs: str) -> dict[str, dict[str, str]]:
    """{instrument: {parkey: value}} from the seeding plan's example datasets."""
    from ..seeding.plans import DM_TO_FITS, OBSERVATORIES

    fits_to_dm = {fits: dm for dm, fits in DM_TO_FITS.items()}
    out: dict[str, dict[str, str]] = {}
    for ds in OBSERVATORIES[obs].datasets:
        if ds.instrument in out:
            continue
        hdr = {}
        for key, value in ds.header.items():
            name = key if obs == "hst" else fits_to_dm.get(key)
            if name:
                hdr[name] = str(value)
        out[ds.instrument] = hdr
    return out


def _same(a: str, b: str) -> bool:
    if a.upper() == b.upper():
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def _choice(value: str) -> str:
    return value.split("|")[0]  # an or-pattern 'A|B': any alternative matches


def _rmap_rows(rmap) -> tuple[tuple[str, ...], dict[tuple, str]]:
    """(match parameter names, {match row: earliest useafter}) of a Match/UseAfter rmap."""
    info = rmap.todict()
    names = tuple(info["parameters"][:-2])
    rows: dict[tuple, str] = {}
    for sel in info["selections"]:
        row, useafter = tuple(str(v) for v in sel[:-2]), str(sel[-2])
        if row not in rows or useafter < rows[row]:
            rows[row] = useafter
    return names, rows


def instrument_cases(pmap, instrument: str, template: dict[str, str]) -> list[tuple[dict, str]]:
    """[(parameters, earliest usable date)] matching every rmap of `instrument` in `pmap`."""
    imap = pmap.get_imap(instrument)
    cases: list[tuple[dict, str]] = [({}, "1900-01-01 00:00:00")]
    date_keys: tuple[str, ...] = ()
    switches: set[str] = set()
    for filekind in sorted(imap.selections.keys()):
        try:
            rmap = imap.get_rmap(filekind)
        except Exception:  # noqa: S112 - N/A or OMIT at the instrument level
            continue
        if len(rmap.parkey) != 2:
            raise ValueError(f"{rmap.basename}: only Match/UseAfter rmaps are supported")
        date_keys = tuple(rmap.parkey[-1])
        switches |= {k for k in rmap.get_extra_parkeys() if k.upper().endswith("CORR")}
        names, rows = _rmap_rows(rmap)
        merged: dict[tuple, tuple[dict, str]] = {}
        for params, start in cases:
            for row, useafter in rows.items():
                new = dict(params)
                for name, value in zip(names, row, strict=True):
                    if value.upper() in _FREE:
                        continue
                    value = _choice(value)
                    if name in new and not _same(new[name], value):
                        break
                    new[name] = value
                else:
                    key = tuple(sorted(new.items()))
                    when = max(start, useafter)
                    if key not in merged or when < merged[key][1]:
                        merged[key] = (new, when)
        cases = sorted(merged.values(), key=lambda c: repr(sorted(c[0].items())))
        if len(cases) > MAX_CASES_PER_INSTRUMENT:
            keep = np.random.default_rng(len(cases)).choice(len(cases), MAX_CASES_PER_INSTRUMENT,
                                                             replace=False)
            cases = [cases[i] for i in sorted(keep)]
    inst_key = pmap.parkey[0]
    out = []
    for params, start in cases:
        full = {k: v for k, v in template.items() if k not in date_keys}
        full.update({k: "PERFORM" for k in switches if k not in full})
        full.update(params)
        full[inst_key] = instrument.upper()
        out.append((full, start))
    return out


def _check_cases(pmap, obs: str, cases, date_keys) -> tuple[list, list]:
    """Keep the cases crds bestrefs answers without NOT FOUND errors (N/A is fine)."""
    import crds

    good, bad = [], []
    for params, start in cases:
        day, clock = (start[:10], "12:00:00")
        header = dict(params, **{date_keys[0]: day, date_keys[1]: clock})
        instr = str(params.get(pmap.parkey[0], "")).lower()
        reftypes = sorted(pmap.get_imap(instr).selections.keys())
        refs = crds.getrecommendations(header, reftypes=reftypes, context=pmap.basename,
                                       observatory=obs, fast=True)
        errors = {k: v for k, v in refs.items()
                  if str(v).upper().startswith("NOT FOUND") and
                  not str(v).upper().startswith("NOT FOUND N/A")}
        (bad if errors else good).append((params, start) if not errors else (params, errors))
    return good, bad


def generate_datasets(cache: Path | str, db_path: Path | str, count: int, *,
                      context: str | None = None, observatory: str | None = None,
                      seed: int = 0, associated: float = 0.6) -> dict:
    """Write `count` synthetic datasets valid for `context` (default: the cache's
    operational context) to the stand-in database `db_path`; return a summary.

    `associated`: fraction of HST exposures that belong to associations."""
    started = time.perf_counter()
    cache = Path(cache)
    obs = (observatory or observatory_of(cache)).lower()
    if not 1 <= count <= MAX_DATASETS:
        raise ValueError(f"count must be 1..{MAX_DATASETS}")
    man = load_manifest(cache, obs)
    context = context or man["operational"]
    end_date = man["history"][-1][0]
    templates = _templates(obs)

    with crds_cache(cache, obs):
        from crds.core import rmap as crds_rmap

        pmap = crds_rmap.get_cached_mapping(context)
        instruments = sorted(pmap.get_required_parkeys())
        plans, dropped = {}, {}
        date_keys = None
        for instr in instruments:
            imap = pmap.get_imap(instr)
            first = imap.get_rmap(sorted(imap.selections.keys())[0])
            date_keys = tuple(first.parkey[-1])
            cases = instrument_cases(pmap, instr, templates.get(instr, {}))
            good, bad = _check_cases(pmap, obs, cases, date_keys)
            if bad:
                dropped[instr] = [repr(b) for b in bad]
            if good:
                plans[instr] = good
    if not plans:
        raise ValueError(f"no usable dataset parameters in {context}")

    rng = np.random.default_rng(seed)
    instr_names = sorted(plans)
    instr_w = 1.0 + rng.random(len(instr_names))
    instr_w /= instr_w.sum()

    # units: an association (2-6 members) or one exposure (HST); a visit of 1-4
    # exposures with the same parameters (JWST)
    n_units = count  # upper bound
    if obs == "hst":
        sizes = np.where(rng.random(n_units) < associated / (associated + (1 - associated) * 4),
                         rng.integers(2, 7, n_units), 1)
    else:
        sizes = rng.integers(1, 5, n_units)
    ends = np.cumsum(sizes)
    n_units = int(np.searchsorted(ends, count)) + 1
    sizes = sizes[:n_units].copy()
    sizes[-1] -= int(ends[n_units - 1] - count)
    unit_instr = rng.choice(len(instr_names), n_units, p=instr_w)
    unit_case = np.zeros(n_units, dtype=np.int64)
    case_ids: dict[tuple[str, int], int] = {}
    param_sets = []
    case_start = np.zeros(n_units, dtype=np.int64)
    end_s = _epoch(end_date)
    for i, instr in enumerate(instr_names):
        cases = plans[instr]
        w = 1.0 / (1.0 + rng.permutation(len(cases)))
        w /= w.sum()
        mask = unit_instr == i
        picks = rng.choice(len(cases), int(mask.sum()), p=w)
        unit_case[mask] = picks
        starts = np.array([_epoch(c[1]) for c in cases])
        case_start[mask] = starts[picks]
        for j, (params, _start) in enumerate(cases):
            case_ids[(instr, j)] = len(param_sets) + 1
            param_sets.append((len(param_sets) + 1, instr, params))
    span = np.maximum(end_s - case_start, 1)
    unit_t = case_start + (rng.random(n_units) * span).astype(np.int64)
    gaps = rng.integers(60, 1800, n_units)
    member = np.arange(count) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    ds_unit = np.repeat(np.arange(n_units), sizes)
    ds_t = unit_t[ds_unit] + member * gaps[ds_unit]
    if obs == "jwst":
        ms = rng.integers(0, 1000, count)
        stamps = np.datetime_as_string((ds_t * 1000 + ms).astype("datetime64[ms]"), unit="ms")
    else:
        stamps = np.datetime_as_string(ds_t.astype("datetime64[s]"), unit="s")
    rows = _rows(obs, instr_names, plans, unit_instr, unit_case, sizes, stamps, case_ids)
    rows.sort()
    create_database(db_path, obs, date_keys, param_sets, rows, meta={
        "context": context, "seed": seed, "count": count, "generator":
        "crds_server.archive.synthetic (synthetic data, not the archive)"})
    per_instr = {}
    for r in rows:
        per_instr[r[2]] = per_instr.get(r[2], 0) + 1
    return {
        "observatory": obs, "context": context, "count": count, "db": str(db_path),
        "instruments": per_instr, "cases": {k: len(v) for k, v in plans.items()},
        "dropped_cases": dropped, "date_keys": list(date_keys),
        "products": len({r[1] for r in rows}),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _rows(obs, instr_names, plans, unit_instr, unit_case, sizes, stamps, case_ids) -> list:
    rows = []
    counters = dict.fromkeys(instr_names, 0)
    k = 0
    for u in range(len(sizes)):
        instr = instr_names[unit_instr[u]]
        case = int(unit_case[u])
        pset = case_ids[(instr, case)]
        n = int(sizes[u])
        c = counters[instr]
        counters[instr] = c + 1
        if obs == "hst":
            program = _b36((c // 400 * 7919 + 1234) % 46656, 3)  # 7919 prime: a bijection
            visit = _b36((c % 400 * 37 + 11) % 1296, 2)
            prefix = HST_INSTR_CHAR.get(instr, instr[0]) + program + visit
            first = _LETTERS[(c * 13 + 7) % 26]
            if n == 1:
                exposures = [(prefix + first + _LETTERS[(c * 5) % 26] + "q").upper()]
                products = exposures
            else:
                product = (prefix + "0" + _B36[1 + c % 9] + "0").upper()
                exposures = [(prefix + first + _LETTERS[j] + "q").upper() for j in range(n)]
                products = [product] * n
        else:
            params = plans[instr][case][0]
            detector = str(params.get("META.INSTRUMENT.DETECTOR", instr)).upper()
            program, rest = divmod(c, 250)
            fileset = f"JW{1000 + program:05d}{rest // 5 + 1:03d}{rest % 5 + 1:03d}_02101_"
            exposures = [f"{fileset}{j + 1:05d}.{detector}" for j in range(n)]
            products = exposures
        for j in range(n):
            stamp = str(stamps[k])
            day, clock = stamp[:10], stamp[11:]
            rows.append((f"{products[j]}:{exposures[j]}", products[j], instr,
                         f"{day} {clock}", day, clock, pset))
            k += 1
    return rows
