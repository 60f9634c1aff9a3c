"""A rules tree of a real HST ops server's size, for load and scale tests.

Every HST instrument's every reference type that the crds package ships a type spec for
(``crds/hst/specs/*.spec``: parkeys, relevance, switch, suffix) gets an rmap; a history
of pipeline contexts then replaces references one rmap at a time, as deliveries do, so
the tree holds about ``mappings`` mappings and ``references`` references of which the
last context selects about ``current`` (defaults: 2,300, 150,000 and 20,000, the size of
HST ops). The mappings are real CRDS mappings (the crds library loads them, their
sha1sum headers are right); the references are small files with distinct contents, since
each is one FITS header block (2,880 bytes) naming its instrument and type, which is all
the crds client reads of a reference when it files it into its cache.

Deterministic: the same arguments give the same tree. Nothing of it is committed; the
tests and benchmarks generate it where they need it.
"""

from __future__ import annotations

import ast
import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path

from crds_server.seeding.mappings import format_match_useafter, format_plain_selector, render

INSTRUMENTS = ("acs", "cos", "stis", "wfc3", "nicmos", "wfpc2")
FIRST = datetime.datetime(2002, 3, 1)


def _specs() -> dict[str, list[tuple[str, dict]]]:
    """{instrument: [(filekind, spec)]} from the crds package's HST type specs."""
    import crds

    root = Path(crds.__file__).parent / "hst" / "specs"
    found: dict[str, list[tuple[str, dict]]] = {}
    for path in sorted(root.glob("*.spec")):
        instrument, _, filekind = path.stem.partition("_")
        if instrument in INSTRUMENTS and filekind:
            spec = ast.literal_eval(path.read_text())
            if spec.get("file_ext", ".fits") == ".fits" and spec.get("parkey"):
                found.setdefault(instrument, []).append((filekind, spec))
    return found


def fits_header(cards: dict) -> bytes:
    """A FITS primary header (one 2,880-byte block, no data) with these keywords."""
    lines = []
    for key, value in cards.items():
        if isinstance(value, bool):
            text = f"{'T' if value else 'F':>20}"
        elif isinstance(value, int):
            text = f"{value:>20}"
        else:
            text = "'" + str(value).replace("'", "''")[:68].ljust(8) + "'"
        lines.append(f"{key:<8}= {text}"[:80].ljust(80))
    lines.append("END".ljust(80))
    block = "".join(lines)
    return (block + " " * (-len(block) % 2880)).encode("ascii")


def _date(n: int) -> str:
    return (FIRST + datetime.timedelta(hours=6 * n)).strftime("%Y-%m-%d %H:%M:%S")


def generate(dest: str | os.PathLike, *, mappings: int = 2300, references: int = 150_000,
             current: int = 20_000, first_serial: int = 1000,
             progress: Callable[[str], None] | None = None) -> dict:
    """Write the tree under ``dest`` (CRDS_PATH layout, flat references) and its
    manifest ``dest/scale.json``; return the manifest. Mapping serials start after
    ``first_serial`` (above the demo seed's, so the two can share a catalog)."""
    dest = Path(dest)
    maps, refs = dest / "mappings" / "hst", dest / "references" / "hst"
    maps.mkdir(parents=True, exist_ok=True)
    refs.mkdir(parents=True, exist_ok=True)
    specs = _specs()
    kinds = [(i, k, s) for i in sorted(specs) for k, s in specs[i]]
    first_mappings = 1 + len(specs) + len(kinds)
    steps = max(0, (mappings - first_mappings) // 3)
    per_rmap = max(1, current // len(kinds))
    per_step = max(1, (references - per_rmap * len(kinds)) // max(steps, 1))

    counter = 0
    per_kind: dict[tuple[str, str], int] = {}

    def new_reference(instrument: str, filekind: str, spec: dict) -> str:
        """A CRDS-style name (hst_<instr>_<filekind>_<NNNN>.fits): the client files it by
        the instrument its name says."""
        nonlocal counter
        counter += 1
        per_kind[(instrument, filekind)] = per_kind.get((instrument, filekind), 0) + 1
        name = f"hst_{instrument}_{filekind}_{per_kind[(instrument, filekind)]:04d}.fits"
        (refs / name).write_bytes(fits_header({
            "SIMPLE": True, "BITPIX": 8, "NAXIS": 0, "EXTEND": True,
            "INSTRUME": instrument.upper(), "FILETYPE": str(spec.get("filetype", "")).upper(),
            "DESCRIP": f"CRDS scale-test reference {name}"}))
        return name

    serial: dict[str, int] = {}

    def name_of(stem: str, ext: str) -> str:
        serial[stem] = serial.get(stem, first_serial) + 1
        return f"{stem}_{serial[stem]:04d}.{ext}"

    # Each rmap's rows: one match (every parkey N/A) with its references by useafter.
    rows: dict[tuple[str, str], list[tuple[str, str]]] = {}
    rmap_names: dict[tuple[str, str], str] = {}
    imap_names: dict[str, str] = {}
    clock = 0

    def write_rmap(instrument: str, filekind: str, spec: dict, derived: str) -> str:
        name = name_of(f"hst_{instrument}_{filekind}", "rmap")
        parkey = tuple(str(p).upper() for p in spec["parkey"])
        header = {"derived_from": derived, "filekind": filekind.upper(),
                  "instrument": instrument.upper(), "mapping": "REFERENCE", "name": name,
                  "observatory": "HST", "parkey": (parkey, ("DATE-OBS", "TIME-OBS")),
                  "reffile_format": str(spec.get("reffile_format", "image")).upper(),
                  "reffile_required": str(spec.get("reffile_required", "none")).upper(),
                  "reffile_switch": str(spec.get("reffile_switch", "none")).upper(),
                  "rmap_relevance": spec.get("rmap_relevance", "ALWAYS"),
                  "parkey_relevance": dict(spec.get("parkey_relevance") or {})}
        if not header["parkey_relevance"]:
            del header["parkey_relevance"]
        match = {tuple("N/A" for _ in parkey): rows[(instrument, filekind)]}
        (maps / name).write_text(render(header, format_match_useafter(match)))
        return name

    def write_imap(instrument: str, derived: str) -> str:
        name = name_of(f"hst_{instrument}", "imap")
        header = {"derived_from": derived, "instrument": instrument.upper(),
                  "mapping": "INSTRUMENT", "name": name, "observatory": "HST",
                  "parkey": ("REFTYPE",)}
        selector = {k: rmap_names[(i, k)] for (i, k) in sorted(rmap_names) if i == instrument}
        (maps / name).write_text(render(header, format_plain_selector(selector)))
        return name

    def write_pmap(derived: str, description: str) -> str:
        name = name_of("hst", "pmap")
        header = {"derived_from": derived, "description": description, "mapping": "PIPELINE",
                  "name": name, "observatory": "HST", "parkey": ("INSTRUME",)}
        selector = {i.upper(): imap_names[i] for i in sorted(imap_names)}
        (maps / name).write_text(render(header, format_plain_selector(selector)))
        return name

    for instrument, filekind, spec in kinds:
        rows[(instrument, filekind)] = [
            (_date(clock + n), new_reference(instrument, filekind, spec)) for n in range(per_rmap)]
        rmap_names[(instrument, filekind)] = write_rmap(instrument, filekind, spec,
                                                        "generated by crds_server scale")
    clock += per_rmap
    for instrument in sorted(specs):
        imap_names[instrument] = write_imap(instrument, "generated by crds_server scale")
    pmap = write_pmap("generated by crds_server scale", "the first scale-test context")
    history = [(_date(clock), pmap, "the first scale-test context")]

    for step in range(steps):
        instrument, filekind, spec = kinds[step % len(kinds)]
        # a delivery: per_step new references; as many of the oldest are replaced
        old = rows[(instrument, filekind)]
        added = [(_date(clock + n), new_reference(instrument, filekind, spec))
                 for n in range(per_step)]
        clock += per_step
        rows[(instrument, filekind)] = (old + added)[-max(per_rmap, per_step):]
        previous_rmap = rmap_names[(instrument, filekind)]
        rmap_names[(instrument, filekind)] = write_rmap(instrument, filekind, spec,
                                                        previous_rmap)
        previous_imap = imap_names[instrument]
        imap_names[instrument] = write_imap(instrument, previous_imap)
        description = f"{instrument} {filekind}: {per_step} references delivered"
        pmap = write_pmap(history[-1][1], description)
        history.append((_date(clock), pmap, description))
        if progress and (step + 1) % 100 == 0:
            progress(f"scale tree: {step + 1}/{steps} contexts, {counter} references")

    closure = sum(len(r) for r in rows.values())
    manifest = {"observatory": "hst", "mappings": len(list(maps.iterdir())),
                "references": counter, "operational": history[-1][1],
                "operational_references": closure, "history": history,
                "rmaps": len(kinds), "instruments": sorted(specs)}
    (dest / "scale.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
