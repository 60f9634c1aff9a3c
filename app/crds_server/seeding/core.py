"""Build a history of CRDS contexts and write it as a CRDS cache tree.

Layout under ``dest``::

    mappings/<obs>/       <obs>_NNNN.pmap, <obs>_<instr>_NNNN.imap, <obs>_<instr>_<kind>_NNNN.rmap
    references/<obs>/     FITS references (flat cache mode)
    datasets/<obs>/       header-only dataset files for bestrefs
    config/<obs>/         server_config + ref_cache_subdir_mode, for the client's offline mode
    seed.json             the manifest returned by generate()

Context 1 holds every rmap with its initial rows.  Each later context changes
one rmap (and every third one a second rmap): a new useafter entry, a
replaced file, or a new match row, so history, diffs and date lookups mean
something.  Only the rmaps that change get a new serial, then their imap, then
the pmap.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pprint
from dataclasses import dataclass
from pathlib import Path

from . import fitsgen, mappings
from .plans import DM_TO_FITS, OBSERVATORIES, ObservatoryPlan, RmapPlan

FMT = "%Y-%m-%d %H:%M:%S"

HST_INSTR_CHAR = {"acs": "j", "wfc3": "i", "cos": "l", "stis": "o", "nicmos": "n", "wfpc2": "u"}
HST_SUFFIX = {
    ("acs", "darkfile"): "drk", ("acs", "pfltfile"): "pfl",
    ("wfc3", "darkfile"): "drk", ("wfc3", "pfltfile"): "pfl",
    ("cos", "flatfile"): "flat", ("cos", "deadtab"): "dead",
}
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class Reference:
    name: str
    plan: RmapPlan
    row: tuple
    useafter: str
    description: str


def context_dates(plan: ObservatoryPlan, count: int) -> list[str]:
    """`count` strictly increasing dates spread from the plan's first to last context."""
    first = dt.datetime.strptime(plan.first_context, FMT)
    last = dt.datetime.strptime(plan.last_context, FMT)
    if count == 1:
        return [plan.first_context]
    step = (last - first) / (count - 1)
    dates, prev = [], None
    for i in range(count):
        when = (first + step * i).replace(microsecond=0)
        # irregular but deterministic minutes/seconds; keep strictly increasing
        when += dt.timedelta(seconds=(i * 7919) % 3600 if step > dt.timedelta(hours=2) else 0)
        if prev is not None and when <= prev:
            when = prev + dt.timedelta(seconds=1)
        dates.append(when.strftime(FMT))
        prev = when
    return dates


def _cdbs_name(instrument: str, filekind: str, when: dt.datetime) -> str:
    year = _B36[when.year - 2016] if when.year >= 2016 else "z"
    stamp = (year + _B36[when.month] + _B36[when.day] + f"{when.hour:02d}{when.minute:02d}"
             + _B36[when.second // 2])
    return f"{stamp}{HST_INSTR_CHAR[instrument]}_{HST_SUFFIX[(instrument, filekind)]}.fits"


class _Namer:
    """Unique reference names: CDBS style for HST, CRDS serials for JWST."""

    def __init__(self, obs: str):
        self.obs = obs
        self.used: set[str] = set()
        self.serials: dict[tuple[str, str], int] = {}

    def __call__(self, plan: RmapPlan, delivered: str) -> str:
        if self.obs == "hst":
            when = dt.datetime.strptime(delivered, FMT)
            while True:
                name = _cdbs_name(plan.instrument, plan.filekind, when)
                if name not in self.used:
                    break
                when += dt.timedelta(seconds=2)
        else:
            key = (plan.instrument, plan.filekind)
            self.serials[key] = self.serials.get(key, 0) + 1
            name = f"jwst_{plan.instrument}_{plan.filekind}_{self.serials[key]:04d}.fits"
        self.used.add(name)
        return name


def _row_text(row: tuple) -> str:
    return ",".join(str(v) for v in row)


class _History:
    """The evolving rule set: rows per rmap, serials, written mapping texts."""

    def __init__(self, plan: ObservatoryPlan):
        self.plan = plan
        self.obs = plan.name
        self.namer = _Namer(self.obs)
        self.references: dict[str, Reference] = {}
        self.rows: dict[RmapPlan, dict[tuple, list[tuple[str, str]]]] = {}
        self.spares: dict[RmapPlan, list[tuple]] = {r: list(r.spare_rows) for r in plan.rmaps}
        self.rmap_serial = {r: 0 for r in plan.rmaps}
        self.instruments = sorted({r.instrument for r in plan.rmaps})
        self.imap_serial = {i: 0 for i in self.instruments}
        self.mapping_texts: dict[str, str] = {}
        self.rmap_names: dict[RmapPlan, str] = {}
        self.imap_names: dict[str, str] = {}
        self.pmaps: list[str] = []
        self.descriptions: dict[str, str] = {}

    # -- references
    def new_reference(self, rplan: RmapPlan, row: tuple, useafter: str, delivered: str) -> str:
        name = self.namer(rplan, delivered)
        what = f"{rplan.instrument.upper()} {rplan.filekind} {_row_text(row)}"
        self.references[name] = Reference(name, rplan, row, useafter, f"{what} (seed)")
        return name

    # -- rendering
    def _render_rmap(self, rplan: RmapPlan, derived_from: str) -> str:
        self.rmap_serial[rplan] += 1
        name = f"{self.obs}_{rplan.instrument}_{rplan.filekind}_{self.rmap_serial[rplan]:04d}.rmap"
        header = {
            "derived_from": derived_from,
            "filekind": rplan.filekind.upper(),
            "instrument": rplan.instrument.upper(),
            "mapping": "REFERENCE",
            "name": name,
            "observatory": self.obs.upper(),
            "parkey": (rplan.parkey, self.plan.date_keys),
            **rplan.header,
        }
        if self.obs == "jwst":
            header["classes"] = ("Match", "UseAfter")
        text = mappings.render(header, mappings.format_match_useafter(self.rows[rplan]))
        self.mapping_texts[name] = text
        self.rmap_names[rplan] = name
        return name

    def _render_imap(self, instrument: str, derived_from: str) -> str:
        self.imap_serial[instrument] += 1
        name = f"{self.obs}_{instrument}_{self.imap_serial[instrument]:04d}.imap"
        header = {
            "derived_from": derived_from,
            "instrument": instrument.upper(),
            "mapping": "INSTRUMENT",
            "name": name,
            "observatory": self.obs.upper(),
            "parkey": self.plan.imap_parkey,
        }
        # Keys as the crds library writes them (InstrumentContext.get_item_key): JWST's
        # filekinds upper case, HST's lower case, so an rmap inserted later replaces its own.
        selector = {(r.filekind.upper() if self.obs == "jwst" else r.filekind.lower()):
                    self.rmap_names[r] for r in self.plan.rmaps if r.instrument == instrument}
        self.mapping_texts[name] = mappings.render(header, mappings.format_plain_selector(selector))
        self.imap_names[instrument] = name
        return name

    def _render_pmap(self, derived_from: str, description: str) -> str:
        name = f"{self.obs}_{len(self.pmaps) + 1:04d}.pmap"
        header = {
            "derived_from": derived_from,
            "description": description,
            "mapping": "PIPELINE",
            "name": name,
            "observatory": self.obs.upper(),
            "parkey": self.plan.pmap_parkey,
        }
        selector = {i.upper(): self.imap_names[i] for i in self.instruments}
        self.mapping_texts[name] = mappings.render(header, mappings.format_plain_selector(selector))
        self.pmaps.append(name)
        self.descriptions[name] = description
        return name

    # -- contexts
    def first_context(self, date: str) -> str:
        for rplan in self.plan.rmaps:
            self.rows[rplan] = {
                row: [(rplan.initial_useafter, self.new_reference(
                    rplan, row, rplan.initial_useafter, date))]
                for row in rplan.rows
            }
            self._render_rmap(rplan, "generated by crds_server.seeding")
        for instrument in self.instruments:
            self._render_imap(instrument, "generated by crds_server.seeding")
        return self._render_pmap("generated by crds_server.seeding",
                                 f"Initial {self.obs.upper()} rules: "
                                 f"{len(self.plan.rmaps)} rmaps, {len(self.references)} references")

    def change(self, rplan: RmapPlan, action: str, index: int, date: str) -> str:
        """Apply one change to `rplan`; return a short description."""
        rows = self.rows[rplan]
        keys = sorted(rows, key=repr)
        row = keys[index % len(keys)]
        when = dt.datetime.strptime(date, FMT)
        useafter = (when - dt.timedelta(days=21)).strftime("%Y-%m-%d 00:00:00")
        if action == "row" and self.spares[rplan]:
            row = self.spares[rplan].pop(0)
            rows[row] = [(rplan.initial_useafter,
                          self.new_reference(rplan, row, rplan.initial_useafter, date))]
            what = f"new match ({_row_text(row)})"
        elif action == "replace":
            old_date, old_ref = max(rows[row])
            new_ref = self.new_reference(rplan, row, old_date, date)
            rows[row] = [e for e in rows[row] if e[0] != old_date] + [(old_date, new_ref)]
            what = f"replace {old_ref} by {new_ref} ({_row_text(row)})"
        else:
            if useafter <= max(rows[row])[0]:
                useafter = max(rows[row])[0][:10] + " 12:00:00"
            new_ref = self.new_reference(rplan, row, useafter, date)
            rows[row] = rows[row] + [(useafter, new_ref)]
            what = f"add {new_ref} useafter {useafter} ({_row_text(row)})"
        return f"{rplan.instrument.upper()} {rplan.filekind}: {what}"

    def next_context(self, number: int, date: str) -> str:
        """Context `number` (2, 3, ...): change one or two rmaps."""
        n = len(self.plan.rmaps)
        step = number - 2
        actions = ("useafter", "replace", "row")
        changes = [(self.plan.rmaps[step % n], actions[(step // n + step) % 3], step)]
        if number % 3 == 0:
            changes.append((self.plan.rmaps[(step + n // 2) % n], "useafter", step + 1))
        old_rmaps = dict(self.rmap_names)
        old_imaps = dict(self.imap_names)
        texts = []
        for rplan, action, index in changes:
            texts.append(self.change(rplan, action, index, date))
            self._render_rmap(rplan, old_rmaps[rplan])
        for instrument in sorted({r.instrument for r, _a, _i in changes}):
            self._render_imap(instrument, old_imaps[instrument])
        return self._render_pmap(self.pmaps[-1], "; ".join(texts))

    # -- lookups on the final state
    def expected_bestrefs(self, header: dict, instrument: str) -> dict[str, str]:
        date = header.get("DATE-OBS", "") + " " + header.get("TIME-OBS", "")[:8]
        out = {}
        for rplan in self.plan.rmaps:
            if rplan.instrument != instrument:
                continue
            kws = [DM_TO_FITS.get(k, k) for k in rplan.parkey]
            hits = [row for row in self.rows[rplan]
                    if all(v == "N/A" or _same(header.get(k), v) for k, v in zip(kws, row,
                                                                                 strict=True))]
            if len(hits) != 1:
                raise AssertionError(f"{instrument} dataset matches {len(hits)} rows of "
                                     f"{rplan.filekind}: {header}")
            entries = sorted(e for e in self.rows[rplan][hits[0]] if e[0] <= date)
            out[rplan.filekind] = entries[-1][1]
        return out


def _same(value, rule_value) -> bool:
    if value is None:
        return False
    try:
        return float(value) == float(rule_value)
    except (TypeError, ValueError):
        return str(value).upper() == str(rule_value).upper()


def _write(path: Path, data: bytes) -> None:
    """Write only when the content differs (idempotent, keeps mtimes)."""
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _server_config(obs: str, history: list, mapping_names: list[str]) -> str:
    """A minimal cached server_config so the client's offline mode knows the contexts."""
    last = history[-1][1]
    info = {
        "observatory": obs,
        "operational_context": last,
        "latest_context": last,
        "edit_context": last,
        "versions_context": "",
        "build_context": last,
        "bad_files_list": [],
        "bad_files": "",
        "mappings": mapping_names,
        "context_history": [list(h) for h in reversed(history)],
        "force_remote_mode": 0,
        "crds_version": {"str": "14.0.3"},
        "mapping_url": {obs: f"https://{obs}-crds-seed.invalid/unchecked_get/mappings/{obs}"},
        "reference_url": {obs: f"https://{obs}-crds-seed.invalid/unchecked_get/references/{obs}"},
        "last_synced": history[-1][0],
        "max_headers_per_rpc": 1000,
        "max_bestrefs_per_rpc": 1000,
        "status": "seed",
        "connected": False,
    }
    return pprint.pformat(info) + "\n"


def generate(observatory: str, dest: Path | str, *, contexts: int = 5) -> dict:
    """Write `contexts` generations of valid `observatory` (hst|jwst) rules, references
    and datasets under `dest` (a CRDS cache tree) and return the manifest (also in
    dest/seed.json)."""
    obs = observatory.lower()
    if obs not in OBSERVATORIES:
        raise ValueError(f"unknown observatory {observatory!r}; expected one of "
                         f"{sorted(OBSERVATORIES)}")
    if contexts < 1:
        raise ValueError("contexts must be >= 1")
    plan = OBSERVATORIES[obs]
    dest = Path(dest)

    hist = _History(plan)
    dates = context_dates(plan, contexts)
    pmaps = [hist.first_context(dates[0])]
    pmaps += [hist.next_context(n, date) for n, date in enumerate(dates[1:], start=2)]
    history = [[date, pmap, hist.descriptions[pmap]]
               for date, pmap in zip(dates, pmaps, strict=True)]

    map_dir = dest / "mappings" / obs
    ref_dir = dest / "references" / obs
    data_dir = dest / "datasets" / obs
    cfg_dir = dest / "config" / obs
    for name, text in hist.mapping_texts.items():
        _write(map_dir / name, text.encode("utf-8"))
    writer = fitsgen.hst_reference if obs == "hst" else fitsgen.jwst_reference
    for ref in hist.references.values():
        _write(ref_dir / ref.name, writer(ref.plan, ref.row, ref.name, ref.useafter,
                                          ref.description))
    datasets, expected = [], {}
    for ds in plan.datasets:
        rel = f"datasets/{obs}/{ds.name}"
        _write(data_dir / ds.name, fitsgen.dataset(ds.header, ds.name))
        datasets.append(rel)
        expected[rel] = hist.expected_bestrefs(ds.header, ds.instrument)

    mapping_names = sorted(hist.mapping_texts)
    _write(cfg_dir / "server_config",
           _server_config(obs, history, mapping_names).encode("utf-8"))
    _write(cfg_dir / "ref_cache_subdir_mode", b"flat\n")

    manifest = {
        "observatory": obs,
        "history": history,
        "operational": hist.pmaps[-1],
        "edit": hist.pmaps[-1],
        "datasets": datasets,
        "expected_bestrefs": expected,
        "mappings": [f"mappings/{obs}/{n}" for n in mapping_names],
        "references": [f"references/{obs}/{n}" for n in sorted(hist.references)],
    }
    own_manifest = cfg_dir / "seed.json"
    _remove_stale(dest, own_manifest, manifest)
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    _write(own_manifest, data)
    _write(dest / "seed.json", data)
    return manifest


def _remove_stale(dest: Path, manifest_path: Path, manifest: dict) -> None:
    """Delete files a previous generate() of the same observatory wrote and this one did not."""
    try:
        old = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return
    if old.get("observatory") != manifest["observatory"]:
        return
    keep = set(manifest["mappings"]) | set(manifest["references"]) | set(manifest["datasets"])
    for rel in old.get("mappings", []) + old.get("references", []) + old.get("datasets", []):
        if rel not in keep and not os.path.isabs(rel) and ".." not in rel:
            (dest / rel).unlink(missing_ok=True)
