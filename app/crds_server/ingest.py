"""Ingest a CRDS cache tree into the file store and its catalog.

Every file is checked first, and every problem is reported by file name with its reason:
the name (a CRDS or CDBS name of this server's observatory), the mapping's text (parsed
by the crds library, its sha1sum header right, its observatory this server's), a name
already catalogued with other content, and what each mapping names (an imap, rmap or
reference file that is neither catalogued nor accepted from the same tree refuses the
mapping, and so in turn whatever names that mapping). Then the good files are copied and
hashed, and catalogued in one transaction: all of them or none. A refused file never
stops the others; nothing raises a traceback for a bad file.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from crds_server import store

log = logging.getLogger("crds_server.ingest")

Progress = Callable[[str], None]


@dataclass
class Offer:
    """One file of the tree offered for ingest."""

    name: str
    path: Path
    kind: str
    size: int
    children: list[str] = field(default_factory=list)  # what a mapping names
    header: dict = field(default_factory=dict)
    properties: dict = field(default_factory=dict)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # name -> reason
    missing_allowed: list[str] = field(default_factory=list)
    dry_run: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        verb = "would add" if self.dry_run else "added"
        text = (f"{len(self.added)} {verb}, {len(self.skipped)} already catalogued, "
                f"{len(self.refused)} refused")
        if self.missing_allowed:
            text += f", {len(self.missing_allowed)} named references allowed missing"
        return text

    def speeds(self) -> str:
        """Files per second of the checks and of the catalog step, and the bytes step apart."""
        t, n = self.timings, self.counts
        parts = []
        for what, key in (("mappings", "mappings"), ("references", "references")):
            if n.get(key):
                secs = t.get(f"check_{key}", 0) + t.get("catalog", 0) * n[key] / max(
                    n.get("catalogued", 1), 1)
                parts.append(f"{n[key]} {what} checked and catalogued in {secs:.2f}s "
                             f"({n[key] / max(secs, 1e-9):.0f}/s)")
        if "copy_hash" in t:
            parts.append(f"copying and hashing {n.get('bytes', 0)} bytes: {t['copy_hash']:.2f}s")
        return "; ".join(parts)


class _Ticker:
    """A progress line at most every ``every`` seconds (and at the end)."""

    def __init__(self, progress: Progress | None, what: str, total: int, every: float = 2.0):
        self.progress, self.what, self.total, self.every = progress, what, total, every
        self.started = self.last = time.monotonic()

    def tick(self, done: int) -> None:
        now = time.monotonic()
        if self.progress and (now - self.last >= self.every or done == self.total):
            self.last = now
            rate = done / max(now - self.started, 1e-9)
            self.progress(f"{self.what}: {done}/{self.total} ({rate:.0f}/s)")


# ---------------------------------------------------------------- the checks


def _candidates(tree: Path) -> tuple[list[Offer], dict[str, str]]:
    """The mapping and reference files under a CRDS_PATH-like tree (any reference subdir
    mode); a name that appears twice is refused."""
    obs = store.observatory()
    found: dict[str, Offer] = {}
    twice: dict[str, str] = {}
    for sub in ("mappings", "references"):
        base = tree / sub / obs
        if not base.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(base, followlinks=False):
            for fname in files:
                path = Path(dirpath) / fname
                if fname.startswith(".") or path.is_symlink():
                    continue
                if sub == "mappings" and not fname.endswith(store.MAPPING_EXTS):
                    continue
                if fname in found:
                    twice[fname] = (f"appears twice in the tree ({found[fname].path} and "
                                    f"{path}); keep one")
                    continue
                kind = store.kind_of(fname)
                found[fname] = Offer(fname, path, kind, path.stat().st_size)
    offers = [o for n, o in found.items() if n not in twice]
    return sorted(offers, key=lambda o: (o.kind != "mapping", o.name)), twice


def _name_problem(offer: Offer) -> str | None:
    from crds.core import config, utils

    obs, name = store.observatory(), offer.name
    if offer.kind == "mapping":
        if not config.is_valid_mapping_name(name):
            return "not a CRDS mapping name (<obs>_<instr>_<filekind>_<NNNN>.rmap and the like)"
    elif not config.is_valid_reference_name(name):
        return "not a CRDS or CDBS reference file name"
    if offer.kind == "mapping" or config.is_crds_name(name):
        try:
            owner = utils.file_to_observatory(name)
        except Exception:  # noqa: BLE001 - an unknown instrument
            owner = None
        if owner != obs:
            return f"belongs to {owner or 'no known observatory'}, not to this {obs} server"
    elif obs != "hst":
        return f"a CDBS name is an HST file, not a {obs} one"
    return None


def _parse_mapping(offer: Offer) -> str | None:
    """Parse with the crds library (checksum checked); fill children and header."""
    from crds.core import exceptions, rmap

    cls = {".pmap": rmap.PipelineContext, ".imap": rmap.InstrumentContext,
           ".rmap": rmap.ReferenceMapping}[Path(offer.name).suffix]
    try:
        text = offer.path.read_text()
        with store.CRDS_LOCK:
            loaded = cls.from_string(text, offer.name, ignore_checksum=False)
            header = dict(loaded.header)
            if isinstance(loaded, rmap.ReferenceMapping):
                offer.children = list(loaded.reference_names())
                offer.properties = {"instrument": str(loaded.instrument).lower(),
                                    "filekind": str(loaded.filekind).lower()}
                offer.header["useafter"] = _useafters(loaded)
            else:
                offer.children = sorted({str(v) for v in loaded.selector.values()
                                         if not rmap.is_special_value(str(v))})
                if isinstance(loaded, rmap.InstrumentContext):
                    offer.properties = {"instrument": str(loaded.instrument).lower()}
    except exceptions.ChecksumError as exc:
        return (f"its sha1sum header is wrong ({_first_line(exc)}): it must be the sha1 of "
                "its text without the sha1sum line (fix it with `crds checksum <file>`)")
    except UnicodeDecodeError:
        return "not a text file, so not a CRDS mapping"
    except Exception as exc:  # noqa: BLE001 - any parse failure (SyntaxError too) refuses it
        return f"the crds library cannot load it: {type(exc).__name__}: {_first_line(exc)}"
    offer.header.update(header)
    mapping_obs, obs = str(header.get("observatory", "")).lower(), store.observatory()
    if mapping_obs != obs:
        return f"its header says observatory {mapping_obs or '(none)'!r}, not {obs!r}"
    return None


def _useafters(loaded) -> dict[str, str]:
    """The earliest USEAFTER date of each reference in an rmap (from its rows)."""
    table = loaded.todict()
    columns = [str(c).upper() for c in table.get("parameters", ())]
    if "USEAFTER" not in columns:
        return {}
    when, ref = columns.index("USEAFTER"), len(columns) - 1
    dates: dict[str, str] = {}
    for row in table.get("selections", ()):
        name, date = str(row[ref]), str(row[when])
        if name not in dates or date < dates[name]:
            dates[name] = date
    return dates


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def check_tree(tree: str | os.PathLike, *, allow_missing_references: bool = False,
               progress: Progress | None = None) -> tuple[list[Offer], IngestReport]:
    """Check every file of ``tree``; the offers that would be added, and the report."""
    from crds_server.interactive.models import File

    tree = Path(tree)
    obs = store.observatory()
    if not (tree / "mappings" / obs).is_dir() and not (tree / "references" / obs).is_dir():
        raise store.StoreError(
            f"{tree} is not a CRDS cache tree of {obs}: expected mappings/{obs}/ and/or "
            f"references/{obs}/ under it")
    report = IngestReport()
    started = time.monotonic()
    offers, twice = _candidates(tree)
    report.refused.update(twice)
    catalogued = {name: (kind, size, sha1) for name, kind, size, sha1 in
                  File.objects.values_list("name", "type", "size", "sha1sum")}
    mappings = [o for o in offers if o.kind == "mapping"]
    references = [o for o in offers if o.kind == "reference"]
    report.counts.update(mappings=len(mappings), references=len(references))

    accepted: dict[str, Offer] = {}
    for group, what in ((mappings, "checking mappings"), (references, "checking references")):
        ticker = _Ticker(progress, what, len(group))
        t0 = time.monotonic()
        for n, offer in enumerate(group, 1):
            reason = _check_one(offer, catalogued, report)
            if reason:
                report.refused[offer.name] = reason
            elif offer.name not in report.skipped:
                accepted[offer.name] = offer
            ticker.tick(n)
        report.timings[f"check_{what.split()[1]}"] = time.monotonic() - t0

    _resolve_names(accepted, catalogued, report, allow_missing_references)
    report.added = sorted(accepted)
    report.timings["check"] = time.monotonic() - started
    return [accepted[n] for n in report.added], report


def _check_one(offer: Offer, catalogued: dict, report: IngestReport) -> str | None:
    reason = _name_problem(offer)
    if reason:
        return reason
    known = catalogued.get(offer.name)
    if offer.kind == "mapping":
        reason = _parse_mapping(offer)
        if reason:
            return reason
    if known:
        kind, size, sha1 = known
        same = kind == offer.kind and size == offer.size and (
            offer.kind == "reference" or store.sha1sum(offer.path) == sha1)
        if not same:
            return (f"the catalog already has a different {offer.name} ({size} bytes, sha1 "
                    f"{sha1[:12]}); a catalogued file never changes: give the new one a new name")
        report.skipped.append(offer.name)
    return None


def _resolve_names(accepted: dict[str, Offer], catalogued: dict, report: IngestReport,
                   allow_missing_references: bool) -> None:
    """Refuse each mapping that names a file neither catalogued nor accepted; a refusal
    goes up to the mappings that name the refused one (a refused imap refuses its pmaps)."""
    parents: dict[str, list[str]] = {}
    for offer in accepted.values():
        for child in offer.children:
            parents.setdefault(child, []).append(offer.name)
    missing: set[str] = set()
    work = [n for n, o in accepted.items() if o.kind == "mapping"]
    while work:
        name = work.pop()
        offer = accepted.get(name)
        if offer is None:
            continue
        for child in offer.children:
            if child in catalogued or child in accepted:
                continue
            if store.kind_of(child) == "reference" and allow_missing_references:
                missing.add(child)
                continue
            if child in report.refused:
                why = f"it names {child}, which is refused ({report.refused[child]})"
            elif store.kind_of(child) == "reference":
                why = (f"it names the reference {child}, which is neither catalogued nor in "
                       "the tree (add it, or --allow-missing-references where the references "
                       "come from elsewhere)")
            else:
                why = f"it names {child}, which is neither catalogued nor in the tree"
            report.refused[name] = why
            del accepted[name]
            work.extend(parents.get(name, ()))
            break
    report.missing_allowed = sorted(missing - set(accepted) - set(catalogued))


# ---------------------------------------------------------------- adding


def ingest_tree(tree: str | os.PathLike, *, user: str = "crds", description: str = "",
                dry_run: bool = False, allow_missing_references: bool = False,
                read_headers: bool = False, progress: Progress | None = None,
                action: str = "ingest") -> IngestReport:
    """Check ``tree``, then copy, hash and catalogue its good files (all or none).

    ``read_headers``: also record each reference's pedigree, description and type from its
    own header (the crds library reads it: about 10 ms a file, so off for bulk imports)."""
    from crds_server.interactive.models import AuditLog, File

    offers, report = check_tree(tree, allow_missing_references=allow_missing_references,
                                progress=progress)
    report.dry_run = dry_run
    if dry_run or not offers:
        return report
    store.ensure_layout()
    _describe_references(offers)

    t0 = time.monotonic()
    created: list[Path] = []
    rows = []
    ticker = _Ticker(progress, "copying and hashing", len(offers))
    try:
        for n, offer in enumerate(offers, 1):
            dest = store.path_of(offer.name, offer.kind)
            if not dest.exists() or dest.stat().st_size != offer.size:
                existed = dest.exists()
                tmp = dest.with_name(f".{offer.name}.ingest")
                shutil.copyfile(offer.path, tmp)
                os.replace(tmp, dest)
                if not existed:
                    created.append(dest)
            if read_headers and offer.kind == "reference":
                offer.properties.update(_header_fields(dest, offer.properties))
            rows.append((offer, store.sha1sum(dest)))
            ticker.tick(n)
        report.timings["copy_hash"] = time.monotonic() - t0  # and the headers, when read
        report.counts["bytes"] = sum(o.size for o in offers)

        t0 = time.monotonic()
        now, obs = timezone.now(), store.observatory()
        with transaction.atomic():
            File.objects.bulk_create([
                File(name=o.name, uploaded_as=o.name, observatory=obs, type=o.kind,
                     size=o.size, sha1sum=sha1, deliverer_user=user, creator_name=user,
                     comment=description, activation_date=now, **_fields(o))
                for o, sha1 in rows], batch_size=2000)
            AuditLog.objects.bulk_create([
                AuditLog(user=user, action=action, filename=o.name, observatory=obs,
                         details=f"from {o.path.parent}") for o, _ in rows], batch_size=2000)
        report.timings["catalog"] = time.monotonic() - t0
        report.counts["catalogued"] = len(rows)
    except Exception:
        for path in created:  # nothing partial: what this run put in the store goes again
            path.unlink(missing_ok=True)
        raise
    store.forget_server_info()
    return report


def _fields(offer: Offer) -> dict:
    props = offer.properties
    description = ""
    if offer.kind == "mapping":
        description = str(offer.header.get("description", ""))[:1000]
    else:
        description = props.get("description", "")
    return {"instrument": props.get("instrument", ""), "filekind": props.get("filekind", ""),
            "useafter_date": props.get("useafter_date", ""), "description": description,
            "pedigree": props.get("pedigree", ""),
            "reference_file_type": props.get("reference_file_type", "")}


def _header_fields(path: Path, known: dict) -> dict:
    """Pedigree, description, reference type (and useafter when no rmap gave one) from a
    reference's own header, read by the crds library; nothing for a file it cannot read."""
    from crds import data_file

    try:
        with store.CRDS_LOCK:
            header = data_file.get_header(str(path), observatory=store.observatory())
    except Exception:  # noqa: BLE001 - not every reference has a header crds can read
        return {}
    fields = {"pedigree": _value(header, "PEDIGREE", "META.PEDIGREE"),
              "description": _value(header, "DESCRIP", "META.DESCRIPTION"),
              "reference_file_type": _value(header, "REFTYPE", "META.REFTYPE", "FILETYPE")}
    if not known.get("useafter_date"):
        fields["useafter_date"] = _value(header, "USEAFTER", "META.USEAFTER")
    return fields


def _value(header: dict, *keys: str) -> str:
    for key in keys:
        value = header.get(key)
        if value not in (None, "", "UNDEFINED"):
            return str(value)[:1000]
    return ""


def _describe_references(offers: list[Offer]) -> None:
    """Instrument, filekind and useafter of each reference from the rmap of this tree that
    names it (the crds library parsed those); a reference no rmap names keeps them empty
    (its header, read while its bytes are copied, may still give the useafter)."""
    named: dict[str, Offer] = {}
    for offer in offers:
        if offer.kind == "mapping" and offer.name.endswith(".rmap"):
            for ref in offer.children:
                named.setdefault(ref, offer)
    unnamed = 0
    for offer in offers:
        if offer.kind != "reference":
            continue
        rmap_offer = named.get(offer.name)
        if rmap_offer is None:
            unnamed += 1
            continue
        offer.properties = {
            **rmap_offer.properties,
            "useafter_date": rmap_offer.header.get("useafter", {}).get(offer.name, "")}
    if unnamed:
        log.info("%d references are named by no rmap of the tree: no instrument/filekind "
                 "recorded for them", unnamed)
