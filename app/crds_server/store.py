"""The server's file store and its catalog: ingest, checks, and the crds library's view of it.

The store IS a CRDS cache (CRDS_PATH layout) at the site config's paths.file_cache:
mappings/<obs>/<name>, references/<obs>/<name> (flat), config/<obs>/. settings.py
points the crds library at it, so rmap.get_cached_mapping() reads the served files.
"""

from __future__ import annotations

import datetime
import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from crds_server.locks import FairRLock

log = logging.getLogger("crds_server.store")

#: The crds library caches loaded mappings in module globals; serialise its use. Held for
#: one library call at a time, never for a whole request, and handed on in arrival order.
CRDS_LOCK = FairRLock()

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


def mapping(name: str):
    """The loaded (and cached) crds Mapping called ``name`` from the store."""
    from crds.core import rmap

    with CRDS_LOCK:
        return rmap.get_cached_mapping(name)


# ---------------------------------------------------------------- contexts


def _catalog_sizes() -> dict[str, tuple[str, int]]:
    from crds_server.interactive.models import File

    return {n: (t, size) for n, t, size in File.objects.values_list("name", "type", "size")}


def _children(name: str, memo: dict) -> tuple[list[str], str | None]:
    """What the stored mapping ``name`` names (crds parses it), or the reason it cannot."""
    if name not in memo:
        from crds.core import rmap

        cls = {".pmap": rmap.PipelineContext, ".imap": rmap.InstrumentContext,
               ".rmap": rmap.ReferenceMapping}[Path(name).suffix]
        try:
            with CRDS_LOCK:
                loaded = cls.from_string(path_of(name, "mapping").read_text(), name,
                                         ignore_checksum=False)
                if isinstance(loaded, rmap.ReferenceMapping):
                    kids = list(loaded.reference_names())
                else:
                    kids = sorted({str(v) for v in loaded.selector.values()
                                   if not rmap.is_special_value(str(v))})
            memo[name] = (kids, None)
        except Exception as exc:  # noqa: BLE001 - any failure to load makes it unusable
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            memo[name] = ([], f"{type(exc).__name__}: {first[:200]}")
    return memo[name]


PROBLEM_KINDS = ("uncatalogued", "absent", "unloadable", "references_absent")


def context_problems(pmap: str, catalog: dict | None = None, memo: dict | None = None) -> dict:
    """What keeps ``pmap``'s whole closure from being served: names the catalog lacks,
    catalogued mappings absent from the store (or of another size), mappings the crds
    library cannot load, and catalogued references absent from the store.

    ``memo`` carries each mapping's answer to the next context checked with it (contexts
    share nearly all their mappings, so checking a whole history costs about one)."""
    catalog = _catalog_sizes() if catalog is None else catalog
    memo = {} if memo is None else memo
    return {k: sorted(v) for k, v in _subtree(pmap, catalog, memo).items()}


def _subtree(name: str, catalog: dict, memo: dict) -> dict[str, frozenset]:
    key = ("subtree", name)
    if key in memo:
        return memo[key]
    found: dict[str, set] = {k: set() for k in PROBLEM_KINDS}
    known = catalog.get(name)
    if known is None:
        found["uncatalogued"].add(name)
    else:
        kind, size = known
        try:
            present = path_of(name, kind).stat().st_size == size
        except OSError:
            present = False
        if kind == "reference":
            if not present:
                found["references_absent"].add(name)
        elif not present:
            found["absent"].add(name)
        else:
            kids, problem = _children(name, memo)
            if problem:
                found["unloadable"].add(f"{name} ({problem})")
            for kid in kids:
                for k, names in _subtree(kid, catalog, memo).items():
                    found[k] |= names
    memo[key] = {k: frozenset(v) for k, v in found.items()}
    return memo[key]


def describe_problems(pmap: str, problems: dict, *, references: bool = True) -> str:
    """One sentence per kind of problem, naming the first files of each."""
    words = {"uncatalogued": "names files the catalog lacks",
             "absent": "has catalogued mappings missing from the store (or of another size)",
             "unloadable": "has mappings the crds library cannot load",
             "references_absent": "has catalogued references missing from the store"}
    parts = []
    for key, what in words.items():
        names = problems.get(key) or []
        if names and (references or key != "references_absent"):
            more = f" and {len(names) - 10} more" if len(names) > 10 else ""
            parts.append(f"{what}: {', '.join(names[:10])}{more}")
    return f"{pmap} " + "; ".join(parts)


def check_context(pmap: str, *, force: bool = False) -> dict:
    """Raise StoreError unless ``pmap``'s closure is complete; references absent from the
    store are tolerated only with ``force`` (a dev server may link them from elsewhere)."""
    problems = context_problems(pmap)
    if any(problems[k] for k in ("uncatalogued", "absent", "unloadable")):
        raise StoreError(describe_problems(pmap, problems, references=False)
                         + ". Ingest or repair those files first; nothing was changed")
    if problems["references_absent"] and not force:
        raise StoreError(describe_problems(pmap, problems)
                         + ". Put them in the store (or pass --force where they are linked "
                         "in from elsewhere); nothing was changed")
    return problems

def exact_file(name: str, kind: str | None = None):
    """The catalog record named exactly ``name`` (byte for byte), or None. The catalog's
    collation is binary (interactive migration 0003), and MariaDB's still pads trailing
    spaces, so the name is compared once more here."""
    from crds_server.interactive.models import File

    rows = File.objects.filter(name=name)
    if kind is not None:
        rows = rows.filter(type=kind)
    return next((rec for rec in rows[:5] if rec.name == name), None)


def pmap_names(*, clean_only: bool = False) -> list[str]:
    """The catalogued pipeline contexts, newest first (``clean_only``: none marked bad)."""
    from crds_server.interactive.models import File

    rows = File.objects.filter(type="mapping", name__endswith=".pmap")
    if clean_only:
        rows = rows.filter(rejected=False, blacklisted=False)
    return sorted(rows.values_list("name", flat=True), reverse=True)


def default_contexts():
    from crds_server.interactive.models import DefaultContext

    return DefaultContext.objects.filter(observatory=observatory()).first()


def set_context(pmap: str, *, which: str, description: str = "", user: str = "crds",
                date: datetime.datetime | None = None, force: bool = False) -> None:
    """Make ``pmap`` the operational (recording history) or edit context: only a context
    whose whole closure the store serves (check_context)."""
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
    check_context(pmap, force=force)
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


def users_of(name: str) -> list[str]:
    """The catalogued mappings that use ``name`` (a mapping or a reference), directly or
    through the mappings below them: the rmaps, imaps and pmaps a bad file would spoil."""
    from crds_server.interactive.models import File

    users = []
    for parent in File.objects.filter(type="mapping").exclude(name=name).order_by("name"):
        try:
            loaded = mapping(parent.name)
            closure = set(loaded.mapping_names()) | set(loaded.reference_names())
        except Exception:  # noqa: BLE001, S112 - a broken mapping cannot contain it
            continue
        if name in closure:
            users.append(parent.name)
    return users


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
    users = users_of(name) if record.is_mapping else []
    with transaction.atomic():
        record.marked_bad = True
        if record.is_mapping:
            record.blacklisted = True
        else:
            record.rejected = True
        record.save()
        for parent in File.objects.filter(name__in=users, blacklisted=False):
            parent.blacklisted = True
            parent.save()
            changed.append(parent.name)
        AuditLog.objects.create(user=user, action="mark bad", filename=name,
                                observatory=observatory(),
                                details=reason or f"also blacklisted: {', '.join(changed[1:])}")
    forget_server_info()
    return changed


def mark_good(name: str, *, user: str = "crds", reason: str = "") -> list[str]:
    """Undo mark_bad: ``name`` is clean again, and so is each mapping that was blacklisted
    only because it used it (one that uses another bad mapping, or was marked bad itself,
    stays bad). Returns the names whose record changed."""
    from crds_server.interactive.models import AuditLog, File

    record = File.objects.filter(name=name).first()
    if record is None:
        raise StoreError(f"{name} is not in the catalog")
    if not (record.marked_bad or record.rejected or record.blacklisted):
        raise StoreError(f"{name} is not marked bad")
    changed = [name]
    with transaction.atomic():
        record.marked_bad = record.rejected = record.blacklisted = False
        record.save()
        still_bad = set(File.objects.filter(type="mapping", marked_bad=True)
                        .values_list("name", flat=True))
        for parent in File.objects.filter(name__in=users_of(name) if record.is_mapping else [],
                                          blacklisted=True, marked_bad=False):
            try:
                closure = set(mapping(parent.name).mapping_names())
            except Exception:  # noqa: BLE001, S112 - a broken mapping stays as it is
                continue
            if not closure & still_bad:
                parent.blacklisted = False
                parent.save()
                changed.append(parent.name)
        AuditLog.objects.create(user=user, action="mark good", filename=name,
                                observatory=observatory(),
                                details=reason or f"also cleared: {', '.join(changed[1:])}")
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
    broken, lacking = _check_contexts()
    defaults = default_contexts()
    current = {k: getattr(defaults, k) for k in ("operational", "edit")} if defaults else {}
    return {"files": len(catalogued), "ok": not any(problems.values()) and not broken,
            **problems, "broken_contexts": broken, "contexts_lacking_references": lacking,
            "defaults": current}


def _check_contexts() -> tuple[dict[str, str], dict[str, int]]:
    """Every context of the history and the current defaults: the broken ones (with what
    is wrong) and those whose references the store lacks (how many)."""
    from crds_server.interactive.models import ContextHistory

    names = set(ContextHistory.objects.filter(observatory=observatory())
                .values_list("context", flat=True))
    defaults = default_contexts()
    if defaults:
        names |= {n for n in (defaults.operational, defaults.edit, defaults.versions) if n}
    catalog, memo = _catalog_sizes(), {}
    broken, lacking = {}, {}
    for pmap in sorted(names):
        problems = context_problems(pmap, catalog, memo)
        if any(problems[k] for k in ("uncatalogued", "absent", "unloadable")):
            broken[pmap] = describe_problems(pmap, problems, references=False)
        elif problems["references_absent"]:
            lacking[pmap] = len(problems["references_absent"])
    return broken, lacking


# ---------------------------------------------------------------- server facts


def catalog_generation() -> str:
    """Changes whenever a catalog row is added, removed or modified."""
    from crds_server.interactive.models import File

    agg = File.objects.aggregate(n=Count("id"), m=Max("modified"))
    return f"{agg['n']}-{agg['m'].timestamp() if agg['m'] else 0}"


def forget_server_info() -> None:
    from crds_server.jsonapi import methods

    methods.forget_cached()
