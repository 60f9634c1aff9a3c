"""The server's file store and its catalog: ingest, checks, and the crds library's view of it.

The store IS a CRDS cache (CRDS_PATH layout) at the site config's paths.file_cache:
mappings/<obs>/<name>, references/<obs>/<name> (flat), config/<obs>/. settings.py
points the crds library at it, so rmap.get_cached_mapping() reads the served files.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

log = logging.getLogger("crds_server.store")

#: The crds library caches loaded mappings in module globals; serialise its use.
CRDS_LOCK = threading.RLock()

MAPPING_EXTS = (".pmap", ".imap", ".rmap")


class StoreError(Exception):
    """A problem with the store or a file offered to it; the message says what to do."""


def observatory() -> str:
    return settings.CRDS_OBSERVATORY


def root() -> Path:
    return Path(settings.CRDS_FILE_CACHE)


def kind_of(name: str) -> str:
    return "mapping" if name.endswith(MAPPING_EXTS) else "reference"


def path_of(name: str, kind: str | None = None) -> Path:
    kind = kind or kind_of(name)
    sub = "mappings" if kind == "mapping" else "references"
    return root() / sub / observatory() / name


def ensure_layout() -> None:
    """Create the store's directories and mark its references flat."""
    obs = observatory()
    for sub in ("mappings", "references", "config", "pickles"):
        (root() / sub / obs).mkdir(parents=True, exist_ok=True)
    mode = root() / "config" / obs / "ref_cache_subdir_mode"
    if not mode.exists() or mode.read_text().strip() != "flat":
        mode.write_text("flat\n")


def sha1sum(path: str | os.PathLike) -> str:
    from crds.core import utils

    return utils.checksum(str(path))


def check_mapping_text(path: Path) -> None:
    """Raise StoreError unless the mapping at ``path`` parses and its sha1sum header is right."""
    from crds.core import exceptions, rmap

    text = path.read_text()
    try:
        with CRDS_LOCK:
            rmap.Mapping.from_string(text, path.name, ignore_checksum=False)
    except exceptions.ChecksumError as exc:
        raise StoreError(
            f"refusing {path.name}: {exc}; its header sha1sum must be the sha1 of its text "
            "without the sha1sum line (fix it with `crds checksum <file>`)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad mapping
        raise StoreError(f"refusing {path.name}: not a valid CRDS mapping ({exc})") from None


def mapping(name: str):
    """The loaded (and cached) crds Mapping called ``name`` from the store."""
    from crds.core import rmap

    with CRDS_LOCK:
        return rmap.get_cached_mapping(name)


def _header_value(header: dict, *keys: str) -> str:
    for key in keys:
        value = header.get(key)
        if value not in (None, "", "UNDEFINED"):
            return str(value)
    return ""


def describe_file(name: str) -> dict:
    """Catalog fields that the crds library can read from a file already in the store."""
    from crds.core import utils

    obs = observatory()
    path = path_of(name)
    fields = {"instrument": "", "filekind": "", "description": "", "pedigree": "",
              "useafter_date": "", "reference_file_type": ""}
    try:
        with CRDS_LOCK:
            instrument, filekind = utils.get_file_properties(obs, name)
        fields.update(instrument=instrument or "", filekind=filekind or "")
    except Exception as exc:  # noqa: BLE001 - properties are best effort, recorded as unknown
        log.info("no instrument/filekind for %s: %s", name, exc)
    if kind_of(name) == "mapping":
        mapping_obj = mapping(name)
        fields["description"] = str(mapping_obj.header.get("description", ""))
    else:
        try:
            from crds import data_file

            with CRDS_LOCK:
                header = data_file.get_header(str(path), observatory=obs)
            fields["useafter_date"] = _header_value(header, "USEAFTER", "META.USEAFTER")
            fields["pedigree"] = _header_value(header, "PEDIGREE", "META.PEDIGREE")
            fields["description"] = _header_value(header, "DESCRIP", "META.DESCRIPTION")
            fields["reference_file_type"] = _header_value(header, "REFTYPE", "META.REFTYPE",
                                                          "FILETYPE")
        except Exception as exc:  # noqa: BLE001
            log.info("no header for %s: %s", name, exc)
    return fields


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.skipped)} already catalogued, "
                f"{len(self.refused)} refused")


def _candidates(tree: Path) -> list[Path]:
    """Mapping and reference files under a CRDS_PATH-like tree (any reference subdir mode)."""
    obs = observatory()
    found = []
    for sub in ("mappings", "references"):
        base = tree / sub / obs
        if not base.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(base, followlinks=False):
            for fname in files:
                path = Path(dirpath) / fname
                if path.is_symlink() or fname.startswith("."):
                    continue
                if sub == "mappings" and not fname.endswith(MAPPING_EXTS):
                    continue
                found.append(path)
    return sorted(found, key=lambda p: (kind_of(p.name) != "mapping", p.name))


def ingest_tree(tree: str | os.PathLike, user: str = "crds", description: str = "") -> IngestReport:
    """Copy every file of ``tree`` the catalog lacks into the store and catalogue it.

    Idempotent: names already catalogued are skipped. Mappings whose sha1sum header is
    wrong are refused (StoreError is not raised for them: they are reported).
    """
    from crds_server.interactive.models import AuditLog, File

    tree = Path(tree)
    if not (tree / "mappings").is_dir() and not (tree / "references").is_dir():
        raise StoreError(
            f"{tree} is not a CRDS cache tree: expected mappings/{observatory()}/ and/or "
            f"references/{observatory()}/ under it"
        )
    ensure_layout()
    report = IngestReport()
    known = set(File.objects.values_list("name", flat=True))
    for src in _candidates(tree):
        name = src.name
        if name in known:
            report.skipped.append(name)
            continue
        kind = kind_of(name)
        if kind == "mapping":
            try:
                check_mapping_text(src)
            except StoreError as exc:
                report.refused.append(str(exc))
                continue
        dest = path_of(name, kind)
        if not dest.exists() or dest.stat().st_size != src.stat().st_size:
            tmp = dest.with_name(f".{name}.ingest")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        sha1 = sha1sum(dest)
        props = describe_file(name)
        with transaction.atomic():
            File.objects.create(
                name=name, uploaded_as=name, observatory=observatory(), type=kind,
                size=dest.stat().st_size, sha1sum=sha1, deliverer_user=user,
                creator_name=user, comment=description, activation_date=timezone.now(),
                **props,
            )
            AuditLog.objects.create(user=user, action="ingest", filename=name,
                                    observatory=observatory(), details=f"from {src}")
        known.add(name)
        report.added.append(name)
    return report


# ---------------------------------------------------------------- contexts


def default_contexts():
    from crds_server.interactive.models import DefaultContext

    return DefaultContext.objects.filter(observatory=observatory()).first()


def set_context(pmap: str, *, which: str, description: str = "", user: str = "crds",
                date: datetime.datetime | None = None) -> None:
    """Make ``pmap`` the operational (recording history) or edit context."""
    from crds_server.interactive.models import AuditLog, ContextHistory, DefaultContext, File

    if which not in ("operational", "edit", "versions"):
        raise StoreError(f"unknown context kind {which!r}; use operational, edit or versions")
    if not pmap.endswith(".pmap"):
        raise StoreError(f"{pmap!r} is not a pipeline context (.pmap)")
    record = File.objects.filter(name=pmap).first()
    if record is None:
        raise StoreError(f"{pmap} is not in the catalog; ingest it first (manage.py ingest_cache)")
    if record.blacklisted or record.rejected:
        raise StoreError(f"{pmap} is marked bad; choose a clean context")
    mapping(pmap)  # loads the whole closure: every file it names must be in the store
    with transaction.atomic():
        defaults, _ = DefaultContext.objects.get_or_create(observatory=observatory())
        setattr(defaults, which, pmap)
        if which == "operational" and not defaults.edit:
            defaults.edit = pmap
        defaults.save()
        if which == "operational":
            ContextHistory.objects.get_or_create(
                observatory=observatory(), start_date=date or timezone.now(), context=pmap,
                defaults={"description": description},
            )
        AuditLog.objects.create(user=user, action=f"set {which} context", filename=pmap,
                                observatory=observatory(), details=description)
    forget_server_info()


def mark_bad(name: str, *, user: str = "crds", reason: str = "") -> list[str]:
    """Mark ``name`` bad: a reference is rejected; a mapping is blacklisted, and so is every
    mapping that uses it. Either way the file joins server_info's bad_files_list.

    Returns the names whose record changed.
    """
    from crds_server.interactive.models import AuditLog, File

    record = File.objects.filter(name=name).first()
    if record is None:
        raise StoreError(f"{name} is not in the catalog")
    defaults = default_contexts()
    if defaults and name == defaults.operational:
        raise StoreError(
            f"{name} is the operational context; set a clean context first, then mark it bad"
        )
    changed = [name]
    with transaction.atomic():
        record.marked_bad = True
        if record.is_mapping:
            record.blacklisted = True
        else:
            record.rejected = True
        record.save()
        if record.is_mapping:
            for parent in File.objects.filter(type="mapping", blacklisted=False).exclude(name=name):
                try:
                    closure = mapping(parent.name).mapping_names()
                except Exception:  # noqa: BLE001, S112 - a broken mapping cannot contain it
                    continue
                if name in closure:
                    parent.blacklisted = True
                    parent.save()
                    changed.append(parent.name)
        AuditLog.objects.create(user=user, action="mark bad", filename=name,
                                observatory=observatory(),
                                details=reason or f"also blacklisted: {', '.join(changed[1:])}")
    forget_server_info()
    return changed


# ---------------------------------------------------------------- consistency


def check_store(verify_sha1: bool = True) -> dict:
    """Compare the catalog with the store: missing files, size/sha1 mismatches, orphans."""
    from crds_server.interactive.models import File

    problems = {"missing": [], "size_mismatch": [], "sha1_mismatch": [], "orphans": []}
    catalogued = {}
    for rec in File.objects.only("name", "type", "size", "sha1sum"):
        catalogued[rec.name] = rec
        path = path_of(rec.name, rec.type)
        if not path.exists():
            problems["missing"].append(rec.name)
        elif path.stat().st_size != rec.size:
            problems["size_mismatch"].append(rec.name)
        elif verify_sha1 and sha1sum(path) != rec.sha1sum:
            problems["sha1_mismatch"].append(rec.name)
    for sub in ("mappings", "references"):
        base = root() / sub / observatory()
        if base.is_dir():
            for entry in sorted(base.iterdir()):
                if entry.is_file() and not entry.name.startswith(".") and (
                        entry.name not in catalogued):
                    problems["orphans"].append(f"{sub}/{observatory()}/{entry.name}")
    return {"files": len(catalogued), "ok": not any(problems.values()), **problems}


# ---------------------------------------------------------------- server facts


def catalog_generation() -> str:
    """Changes whenever a catalog row is added, removed or modified."""
    from crds_server.interactive.models import File

    agg = File.objects.aggregate(n=Count("id"), m=Max("modified"))
    return f"{agg['n']}-{agg['m'].timestamp() if agg['m'] else 0}"


def forget_server_info() -> None:
    from crds_server.jsonapi import methods

    methods.forget_cached()
