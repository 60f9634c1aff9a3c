"""The rules pages' logic: what the crds library says about the server's mappings, shaped
for templates. Nothing here re-implements crds: mappings are loaded by crds from the
server's store (store.mapping), an rmap's rows are its own ``todict()`` (the selector's
``todict_flat``), differences are the mapping objects' ``difference()`` (what
``crds.diff.mapping_diffs`` and `crds diff` call) with crds.diff's own helpers to read
them, best references are ``heavy_client.hv_best_references`` (what the
``get_best_references`` RPC and the client's local mode compute) and a reference's rule
rows are the rmap's own ``file_matches``."""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from pathlib import Path

from django.conf import settings
from django.http import Http404

from crds_server import store

#: The kinds of mapping a context table shows, by extension.
MAPPING_KINDS = {".pmap": "pipeline", ".imap": "instrument", ".rmap": "reference"}
#: How the crds library names each level of a difference path (DiffTuple.parameter_names).
DIFF_LEVELS = {"PipelineContext": "pmap", "InstrumentContext": "imap",
               "ReferenceMapping": "rmap"}
NO_ARCHIVE = (
    "this server has no archive dataset service yet, so a dataset id cannot be looked up; "
    "upload the dataset's file or paste its header lines instead"
)
#: An upload's name must look like a data file crds can read (its type comes from the name).
UPLOAD_SUFFIXES = (".fits", ".fit", ".fts", ".asdf", ".json", ".yaml")


class NotFound(Http404):
    """A name the page cannot show (not in the catalog, or not that kind of file)."""


class Unusable(Exception):
    """A catalogued file the crds library cannot use (absent from the store, unloadable),
    or input the page cannot use; the message says which and why."""


# ---------------------------------------------------------------- names


def catalogued(name: str, *, exts: tuple[str, ...] = tuple(MAPPING_KINDS)):
    """The catalog record of ``name``, which must be one of ``exts``; NotFound otherwise."""
    from crds_server.interactive.models import File

    record = File.objects.filter(name=name).first()
    if record is None:
        raise NotFound(f"{name} is not in this CRDS server's catalog")
    if not name.endswith(exts):
        what = "a mapping" if record.is_mapping else "a reference file"
        raise NotFound(f"{name} is {what}, not {' or '.join(exts)}")
    return record


def load(name: str):
    """The crds Mapping ``name`` from the store, or Unusable saying why it cannot be."""
    try:
        return store.mapping(name)
    except Exception as exc:  # noqa: BLE001 - any load failure is reported, not raised
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise Unusable(f"the crds library cannot load {name}: {first[:300]}") from exc


def operational() -> str:
    defaults = store.default_contexts()
    return defaults.operational if defaults and defaults.operational else ""


def previous_context(name: str) -> str:
    """The context before ``name``: the history entry preceding it, else the catalogued
    mapping its header says it was derived from, else ""."""
    from crds_server.interactive.models import ContextHistory, File

    history = ContextHistory.objects.filter(observatory=settings.CRDS_OBSERVATORY)
    entry = history.filter(context=name).order_by("-start_date", "-id").first()
    if entry is not None:
        before = (history.filter(start_date__lt=entry.start_date)
                  .exclude(context=name).order_by("-start_date", "-id").first())
        if before is not None:
            return before.context
    try:
        derived = str(load(name).header.get("derived_from", ""))
    except Unusable:
        return ""
    return derived if File.objects.filter(name=derived).exists() else ""


def _special(value) -> bool:
    from crds.core import rmap

    return isinstance(value, str) and rmap.is_special_value(value)


def _header_rows(mapping) -> list[tuple[str, str]]:
    return [(str(k), str(mapping.header[k])) for k in mapping.header]


# ---------------------------------------------------------------- context table


def context_table(name: str) -> dict:
    """What the page shows of the mapping ``name``: its header and its selections (for a
    pmap: each instrument's imap and each filekind's rmap; for an imap: its filekinds'
    rmaps; for an rmap: its parkeys and rows, see rmap_table)."""
    record = catalogued(name)
    mapping = load(name)
    kind = MAPPING_KINDS[Path(name).suffix]
    out = {"name": name, "record": record, "kind": kind, "header": _header_rows(mapping)}
    if kind == "pipeline":
        out["instruments"] = _pmap_rows(mapping)
    elif kind == "instrument":
        out["filekinds"] = _imap_rows(mapping)
    else:
        out.update(rmap_table(name))
    return out


def _imap_rows(imap) -> list[dict]:
    descr = getattr(imap.obs_package, "TEXT_DESCR", {})
    rows = []
    with store.CRDS_LOCK:
        for filekind, value in sorted(imap.selections.items()):
            special = _special(value)
            rows.append({"filekind": filekind, "rmap": value if special else value.basename,
                         "special": special, "description": descr.get(filekind, ""),
                         "references": 0 if special else len(value.reference_names())})
    return rows


def _pmap_rows(pmap) -> list[dict]:
    rows = []
    with store.CRDS_LOCK:
        items = sorted(pmap.selections.items())
    for instrument, value in items:
        special = _special(value)
        kinds = [] if special else _imap_rows(value)
        rows.append({"instrument": instrument, "imap": value if special else value.basename,
                     "special": special, "filekinds": kinds, "span": max(1, len(kinds))})
    return rows


@functools.lru_cache(maxsize=32)
def _rmap_todict(name: str) -> tuple[tuple[str, ...], tuple[tuple, ...], str]:
    """The rmap's todict() (parameters, rows, text description); mappings never change
    under a name, so the answer is kept."""
    with store.CRDS_LOCK:
        table = store.mapping(name).todict()
    rows = tuple(tuple(str(v) for v in row) for row in table["selections"])
    return tuple(str(p) for p in table["parameters"]), rows, str(table.get("text_descr", ""))


def rmap_table(name: str) -> dict:
    """An rmap's matching parameters (its header's parkey), and its rows as the crds
    library enumerates them (ReferenceMapping.todict: parameters ending in USEAFTER when
    the rmap has a UseAfter level, then REFERENCE)."""
    mapping = load(name)
    try:
        params, rows, descr = _rmap_todict(name)
    except Exception as exc:  # noqa: BLE001 - an rmap crds cannot tabulate is reported
        raise Unusable(f"the crds library cannot list the rows of {name}: {exc}") from exc
    width = len(params) - 1   # the match columns (and useafter), then the reference
    table = []
    for row in rows:
        # an N/A mode replacing a nested selector gives a shorter row: pad its middle
        cells = list(row[:-1])[:width] + [""] * max(0, width - (len(row) - 1))
        table.append({"cells": cells, "reference": row[-1], "special": _special(row[-1])})
    parkey = mapping.header.get("parkey", ())
    return {"parkeys": [list(group) for group in parkey] if parkey and isinstance(
                parkey[0], (tuple, list)) else [list(parkey)],
            "columns": list(params[:-1]), "rows": table, "text_descr": descr,
            "useafter": "USEAFTER" in params, "instrument": mapping.instrument,
            "filekind": mapping.filekind}


# ---------------------------------------------------------------- differences


def check_pair(old: str, new: str) -> None:
    """Both catalogued mappings of the same kind, else NotFound / Unusable."""
    catalogued(old)
    catalogued(new)
    if Path(old).suffix != Path(new).suffix:
        raise Unusable(f"{old} and {new} are different kinds of mapping; compare two "
                       ".pmap, two .imap or two .rmap files")


def _diff_row(diff) -> dict:
    """One crds DiffTuple as a row: the mapping pairs of its path, the lowest level's
    match values, what changed and the files involved (crds.diff's own helpers)."""
    from crds import diff as crds_diff

    flat = diff.flat
    names = list(flat.parameter_names)
    path, match = [], []
    for par, value in zip(names, flat, strict=False):
        if par in DIFF_LEVELS:   # crds.diff names the mappings by path: keep the names
            path.append((DIFF_LEVELS[par], tuple(os.path.basename(v) for v in value)))
            match = []           # only the lowest mapping's keys describe the change
        elif par != "DIFFERENCE":
            match.append((str(par), str(value)))
    message = str(flat[-1])
    try:
        action = crds_diff.diff_action(diff)
    except ValueError:
        action = "other"
    verb = action.split("_")[0]
    old_file = new_file = ""
    if verb == "replace":
        old_file, new_file = crds_diff.diff_replace_old_new(diff)
    elif verb == "add":
        new_file = crds_diff.diff_added_new(diff)
    elif verb == "delete":
        old_file = crds_diff.diff_added_new(diff)
    level, (old_map, new_map) = path[-1] if path else ("", ("", ""))
    instrument, filekind = diff.instrument or "", diff.filekind or ""
    if level == "pmap" and match:
        instrument = match[0][1]
    elif level == "imap" and match:
        filekind = match[0][1]
    return {"level": level, "old_mapping": old_map, "new_mapping": new_map, "match": match,
            "old_url": link("context_table", old_map) if old_map else "",
            "new_url": link("context_table", new_map) if new_map else "",
            "action": {"replace": "replaced", "add": "added", "delete": "deleted"}.get(
                verb, action.replace("_", " ")),
            "rule": action.endswith("_rule"), "old_file": old_file or "",
            "new_file": new_file or "", "message": message,
            "instrument": str(instrument).lower(), "filekind": str(filekind).lower()}


@functools.lru_cache(maxsize=4096)
def link(view: str, name: str) -> str:
    """The URL of ``view`` for ``name`` (kept: a differences page repeats its names)."""
    from django.urls import reverse

    return reverse(view, args=[name])


def _file(name: str) -> dict:
    """A file named by a difference: how the page links it (mappings to their table,
    references to their catalog page, N/A and OMIT not at all)."""
    special = _special(name) or not name
    return {"name": name, "special": special,
            "url": "" if special else link(
                "context_table" if name.endswith(store.MAPPING_EXTS) else "file", name)}


def differences(old: str, new: str) -> dict:
    """The differences crds computes between the mappings ``old`` and ``new``, grouped per
    instrument and filekind (see _differences)."""
    check_pair(old, new)
    return _differences(old, new)


@functools.lru_cache(maxsize=8)
def _differences(old: str, new: str) -> dict:
    """What ``crds diff old new`` reports, with its defaults (no header differences, no
    recursion into added or deleted mappings): crds.diff.mapping_diffs loads both
    mappings again and calls the old one's difference() with the new one; here the
    store's loaded mappings are used (the same objects every page uses), and the answer
    is kept, since a mapping never changes under its name."""
    from crds import diff as crds_diff

    old_map, new_map = load(old), load(new)
    try:
        with store.CRDS_LOCK:
            diffs = old_map.difference(new_map, include_header_diffs=False,
                                       recurse_added_deleted=False)
            added = deleted = None
            if old.endswith(".pmap"):
                added = [_file(r) for r in crds_diff.get_added_references(old_map, new_map)]
                deleted = [_file(r) for r in crds_diff.get_deleted_references(old_map, new_map)]
    except Exception as exc:  # noqa: BLE001 - reported on the page, never a traceback
        raise Unusable(f"crds cannot difference {old} and {new}: {exc}") from exc
    rows = [_diff_row(d) for d in sorted(diffs)]
    groups: dict[str, dict[str, dict]] = {}
    for row in rows:
        kinds = groups.setdefault(row["instrument"], {})
        group = kinds.setdefault(row["filekind"], {
            "filekind": row["filekind"], "rows": [], "added": [], "deleted": [],
            "replaced": []})
        group["rows"].append(row)
        if row["action"] in ("added", "deleted"):
            group[row["action"]].append(_file(row["new_file"] or row["old_file"]))
        elif row["action"] == "replaced":
            group["replaced"].append((_file(row["old_file"]), _file(row["new_file"])))
    for kinds in groups.values():
        for group in kinds.values():   # pmap and imap level changes before rmap rows
            group["rows"].sort(key=lambda r: list(DIFF_LEVELS.values()).index(r["level"])
                               if r["level"] in DIFF_LEVELS.values() else 3)
    return {
        "old": old, "new": new, "count": len(rows), "rows": rows,
        "instruments": [{"instrument": i, "filekinds": [groups[i][k] for k in sorted(groups[i])]}
                        for i in sorted(groups)],
        "references_added": added, "references_deleted": deleted,
    }


# ---------------------------------------------------------------- best references

_COMMENTARY = ("COMMENT", "HISTORY", "CONTINUE")
_CARD = re.compile(r"^\s*([A-Za-z0-9_.\-\[\] ]*?[A-Za-z0-9_.\-\]])\s*=(.*)$")


def _card_value(text: str) -> str:
    """A FITS-card-like value: 'quoted' (with '' for a quote) or bare, then an optional
    / comment."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        quote, out, i = text[0], [], 1
        while i < len(text):
            if text[i] == quote:
                if text[i + 1:i + 2] == quote:
                    out.append(quote)
                    i += 2
                    continue
                break
            out.append(text[i])
            i += 1
        return "".join(out).strip()
    return text.split(" /", 1)[0].strip()


def parse_header_text(text: str) -> dict[str, str]:
    """Pasted header lines (``KEYWORD = value``, FITS-card style, one a line; blank lines,
    # comments and END ignored) or a JSON object, as {keyword: value}."""
    text = text.strip()
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise Unusable(f"the pasted header looks like JSON but is not: {exc}") from exc
        if not isinstance(loaded, dict):
            raise Unusable("a JSON header must be an object of {keyword: value}")
        return {str(k): str(v) for k, v in loaded.items()}
    header, bad = {}, []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.upper() == "END":
            continue
        if stripped.split()[0].upper() in _COMMENTARY:
            continue
        found = _CARD.match(line)
        if not found:
            bad.append(f"line {number}: {stripped[:60]!r}")
            continue
        header[found.group(1).strip()] = _card_value(found.group(2))
    if bad:
        raise Unusable("these header lines are not KEYWORD = value: " + "; ".join(bad[:10]))
    if not header:
        raise Unusable("the pasted header has no KEYWORD = value lines")
    return header


def read_upload_header(upload) -> dict[str, str]:
    """The header of an uploaded dataset file, read by the crds library (its own readers,
    uncached: each upload is a new temporary file)."""
    from crds import data_file

    original = os.path.basename(upload.name or "")
    if not original.lower().endswith(UPLOAD_SUFFIXES):
        raise Unusable(f"{original or 'the upload'} is not a dataset file crds can read; "
                       f"send one ending in {', '.join(UPLOAD_SUFFIXES)}")
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", original)
    with tempfile.TemporaryDirectory(prefix="crds-bestrefs-") as tmp:
        path = Path(tmp) / safe
        with open(path, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        try:
            with store.CRDS_LOCK:
                header = data_file.get_free_header.uncached(
                    str(path), (), original, settings.CRDS_OBSERVATORY)
        except Exception as exc:  # noqa: BLE001 - an unreadable upload is reported
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise Unusable(f"crds cannot read the header of {original}: {first[:300]}") from exc
    return dict(header)   # as crds read it: `crds bestrefs` conditions the same values


def _flat_match(match_tuple) -> list[tuple[str, str]]:
    """A file_matches() tuple without its leading (observatory, instrument, filekind)."""
    out = []
    for part in match_tuple[1:]:
        for par, value in part:
            out.append((str(par), str(value)))
    return out


def best_references(pmap_name: str, header: dict[str, str]) -> dict:
    """What crds selects for ``header`` under ``pmap_name``, per filekind of the dataset's
    instrument: the answer of hv_best_references (the get_best_references RPC and the
    client's local mode), and for a selected file the rmap rows that give it."""
    from crds.core import heavy_client, utils

    catalogued(pmap_name, exts=(".pmap",))
    pmap = load(pmap_name)
    try:
        with store.CRDS_LOCK:
            conditioned = utils.condition_header(header)
            instrument = pmap.get_instrument(conditioned).lower()
            answer = heavy_client.hv_best_references(pmap_name, header)
            imap = pmap.get_imap(instrument)
            kinds = dict(imap.selections.items())
            parameters = pmap.minimize_header(conditioned)
    except Exception as exc:  # noqa: BLE001 - reported on the page, never a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise Unusable(f"crds cannot compute best references for this header under "
                       f"{pmap_name}: {first[:300]}") from exc
    answer = {str(k).lower(): str(v) for k, v in answer.items()}
    rows = []
    for filekind in sorted(set(kinds) | set(answer)):
        rmap = kinds.get(filekind)
        value = answer.get(filekind)
        row = {"filekind": filekind, "answer": value if value is not None else "",
               "rmap": rmap if _special(rmap) else getattr(rmap, "basename", ""),
               "rmap_special": _special(rmap), "matches": [], "status": "", "reference": ""}
        if value is None:
            row["status"] = "not applicable (crds gives no reference of this type for the " \
                            "dataset)"
        elif value.upper().startswith("NOT FOUND N/A") or value.upper() == "N/A":
            row["status"] = "N/A (not applicable for these parameters)"
        elif value.upper().startswith("NOT FOUND"):
            row["status"] = "no match: " + value[len("NOT FOUND"):].strip()
        elif _special(value):
            row["status"] = value
        else:
            row["reference"] = value
            if rmap is not None and not _special(rmap):
                with store.CRDS_LOCK:
                    row["matches"] = [_flat_match(m) for m in rmap.file_matches(value)]
        rows.append(row)
    return {"context": pmap_name, "instrument": instrument, "rows": rows,
            "answer": answer, "parameters": sorted((str(k), str(v))
                                                   for k, v in parameters.items())}
