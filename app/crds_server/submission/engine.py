"""A submission from the upload area to the catalog, with the crds library doing the domain
work: crds.certify checks each file against the derive-from context, crds.core.naming
gives HST references their official names, crds.refactoring.refactor inserts them into
their rmaps and crds.refactoring.newcontext makes the new imaps and pmap.

Nothing reaches the store, the catalog or the contexts before the submitter confirms:
processing works in ``${CRDS_SERVER_FILES}/submissions/<id>/``, a CRDS cache of its own
that links the derive-from context's mappings and holds the new files. Confirm adds them
all in one transaction (ingest), makes the new pmap the edit context, and leaves a
numbered delivery for the archive; cancel removes the staging area and keeps the uploads.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
import shutil
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crds_server import store
from crds_server.fileupload import area
from crds_server.jpoll import channels
from crds_server.submission.models import Delivery, Submission

log = logging.getLogger("crds_server.submission")

CHANGE_LEVELS = ("SEVERE", "MODERATE", "TRIVIAL")


class SubmissionError(Exception):
    """A submission that cannot go on; the message says why and what to do."""


# ----------------------------------------------------------------- the crds library


@contextlib.contextmanager
def crds_on(cache: Path | None = None):
    """The crds library (process-wide state, one user at a time) reading the store, or
    ``cache`` (writable) when given; its mapping caches are dropped on the way in and out
    so nothing of a staging area lingers for the RPCs."""
    from crds.core import utils

    with store.CRDS_LOCK:
        saved = {k: os.environ.get(k) for k in ("CRDS_PATH", "CRDS_READONLY_CACHE")}
        utils.clear_function_caches()
        if cache is not None:
            os.environ["CRDS_PATH"] = str(cache)
            os.environ.pop("CRDS_READONLY_CACHE", None)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            utils.clear_function_caches()


class Relay(logging.Handler):
    """crds's log lines, kept per file and sent to the submitter's jpoll channel."""

    def __init__(self, key: str | None):
        super().__init__(logging.DEBUG)
        self.key, self.current = key, "(submission)"
        self.lines: dict[str, list[str]] = {}
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = re.sub(r"^\(\d+\) -\s*", "", record.getMessage().strip())
        text = text.replace(str(settings.CRDS_SUBMISSIONS_DIR), "(staging)")
        text = text.replace(str(settings.CRDS_INGEST_DIR), "(uploads)")
        if not text or set(text) <= {"#"}:
            return
        level = record.levelname
        self.lines.setdefault(self.current, []).append(f"{level} - {text}")
        kind = "log_message"
        if level == "ERROR":
            self.errors.append(f"{self.current}: {text}")
            kind = "error"
        elif level == "WARNING":
            self.warnings.append(f"{self.current}: {text}")
            kind = "warning"
        elif level == "DEBUG":
            kind = "verbose"
        channels.push(self.key, kind, text)

    def say(self, text: str) -> None:
        self.lines.setdefault("(submission)", []).append(f"INFO - {text}")
        channels.push(self.key, "log_message", text)


@contextlib.contextmanager
def relayed(key: str | None):
    from crds.core import log as crds_log

    relay = Relay(key)
    logger = logging.getLogger("CRDS")
    logger.addHandler(relay)
    crds_log.THE_LOGGER.reset()
    try:
        yield relay
    finally:
        logger.removeHandler(relay)


# ----------------------------------------------------------------- contexts and names


def derive_from(mode: str, name: str = "") -> str:
    """The pmap a submission starts from: pmap_edit, pmap_operational, pmap_latest or a
    named one (pmap_text)."""
    from crds_server.interactive.models import File

    defaults = store.default_contexts()
    if mode in ("pmap_edit", "edit"):
        pmap = defaults.edit if defaults else ""
    elif mode in ("pmap_operational", "operational"):
        pmap = defaults.operational if defaults else ""
    elif mode in ("pmap_latest", "latest"):
        latest = File.objects.filter(observatory=store.observatory(), type="mapping",
                                     name__endswith=".pmap", rejected=False,
                                     blacklisted=False).order_by("-name").first()
        pmap = latest.name if latest else ""
    elif mode in ("pmap_text", "text", ""):
        pmap = (name or "").strip()
    else:
        raise SubmissionError(f"derive-from mode {mode!r}: use pmap_edit, pmap_operational, "
                              "pmap_latest or pmap_text with a context name")
    if not pmap:
        raise SubmissionError("the server has no such context yet; name one (pmap_text)")
    record = File.objects.filter(name=pmap, type="mapping").first()
    if record is None or not pmap.endswith(".pmap"):
        raise SubmissionError(f"{pmap!r} is not a context this server has")
    if record.blacklisted or record.rejected:
        raise SubmissionError(f"{pmap} is marked bad; derive from a clean context")
    return pmap


def next_serial_name(prefix: str, ext: str, taken: set[str]) -> str:
    """``<prefix>_<NNNN><ext>`` one above every catalogued or staged name of that kind."""
    from crds_server.interactive.models import File

    pattern = re.compile(re.escape(prefix) + r"_(\d+)" + re.escape(ext) + "$")
    serials = [int(m.group(1)) for n in File.objects.filter(
        name__startswith=prefix + "_", name__endswith=ext).values_list("name", flat=True)
        if (m := pattern.match(n))]
    serials += [int(m.group(1)) for n in taken if (m := pattern.match(n))]
    return f"{prefix}_{max(serials, default=0) + 1:04d}{ext}"


def official_reference_name(path: Path, taken: set[str]) -> str:
    """The name the catalog will know a reference by: CRDS's own for HST (crds.core.naming,
    a time stamp, an instrument letter and the type's suffix); for JWST, whose locator has no
    such generator, ``jwst_<instrument>_<filekind>_<NNNN><ext>`` after the catalog's."""
    from crds import utils as crds_utils
    from crds.core import naming

    obs = store.observatory()
    if obs == "hst":
        for _ in range(10):
            name = os.path.basename(naming.generate_unique_name(str(path), obs))
            if name not in taken and not store.path_of(name, "reference").exists():
                return name
        raise SubmissionError(f"no unique name for {path.name} after 10 tries")
    instrument, filekind = crds_utils.get_file_properties(obs, str(path))
    ext = "".join(path.suffixes[-1:]) or ".fits"
    return next_serial_name(f"{obs}_{instrument}_{filekind}", ext, taken)


# ----------------------------------------------------------------- processing


def staging_dir(sub: Submission) -> Path:
    return Path(settings.CRDS_SUBMISSIONS_DIR) / str(sub.id)


def _fail(sub: Submission, key: str | None, reason: str, relay: Relay | None = None) -> None:
    sub.state, sub.reason = "failed", reason
    if relay is not None:
        sub.results.update(certify=relay.lines, errors=relay.errors, warnings=relay.warnings)
    sub.save()
    shutil.rmtree(staging_dir(sub), ignore_errors=True)
    with contextlib.suppress(channels.Aborted):
        channels.push(key, "done", {"status": channels.STATUS_FAILED,
                                    "result": f"{result_url(sub)} {reason}"})


def result_url(sub: Submission) -> str:
    """Where the submitter sees the results: on the host and port they came in by."""
    return f"{sub.results.get('base_url') or settings.SITE.proxy_url}/display_result/{sub.id}"


def check_uploads(user: str, kind: str) -> list[Path]:
    """Every file in the upload area, each checked; all refused names at once."""
    from crds_server.interactive.models import File

    files = area.files(user)
    if not files:
        raise SubmissionError("your upload area is empty: upload the files first")
    problems = []
    catalogued = dict(File.objects.filter(name__in=[f.name for f in files]).values_list(
        "name", "sha1sum"))
    sha1s = {path: store.sha1sum(path) for path in files}  # each upload hashed once
    sums = dict(File.objects.filter(sha1sum__in=list(sha1s.values())).values_list(
        "sha1sum", "name"))
    for path in files:
        is_mapping = path.name.endswith((".pmap", ".imap", ".rmap"))
        if kind == "mappings" and not is_mapping:
            problems.append(f"{path.name}: not a mapping (.pmap, .imap, .rmap)")
        elif kind in ("batch", "references") and is_mapping:
            problems.append(f"{path.name}: a mapping; submit mappings with Submit Mappings")
        if path.name in catalogued:
            problems.append(f"{path.name}: the catalog already has a file of this name")
        elif sha1s[path] in sums:
            problems.append(f"{path.name}: the same bytes are already catalogued as "
                            f"{sums[sha1s[path]]}")
    if problems:
        raise SubmissionError("refused: " + "; ".join(problems))
    return files


def start(user: str, instrument: str, form: dict, kind: str = "batch",
          key: str | None = None, base_url: str | None = None,
          redcat: dict | None = None) -> Submission:
    """Certify the upload area against the derive-from context and, for a batch, rename
    and insert the references and make the new rules: the submission, ready to confirm
    (or failed, with every file's certify messages)."""
    level = str(form.get("change_level") or "SEVERE").upper()
    if level not in CHANGE_LEVELS:
        raise SubmissionError(f"change_level {level!r}: use one of {', '.join(CHANGE_LEVELS)}")
    pmap = derive_from(str(form.get("pmap_mode") or "pmap_edit"),
                       str(form.get("pmap_text") or form.get("pmap_name") or ""))
    if kind != "certify" and not str(form.get("description") or "").strip():
        raise SubmissionError("describe the delivery (description)")
    _supersede(user)
    defaults = store.default_contexts()
    sub = Submission.objects.create(
        user=user, instrument=instrument or "none", observatory=store.observatory(),
        kind=kind, derived_from=pmap, description=str(form.get("description") or "")[:4000],
        creator=str(form.get("creator") or "")[:128], change_level=level,
        results={"form": {k: str(v)[:500] for k, v in form.items()
                          if k not in ("csrfmiddlewaretoken", "password")},
                 "base_url": base_url or settings.SITE.proxy_url,
                 "edit_at_start": defaults.edit if defaults else "",
                 **({"redcat": redcat} if redcat else {})})
    try:
        files = check_uploads(user, kind)
    except SubmissionError as exc:
        _fail(sub, key, str(exc))
        return sub
    sub.results["uploaded"] = [f.name for f in files]
    compare = str(form.get("compare_old_reference", "True")).lower() not in ("false", "0", "")
    auto_rename = str(form.get("auto_rename", "True")).lower() not in ("false", "0", "")
    with relayed(key) as relay:
        try:
            _certify(files, pmap, compare, relay)
            if relay.errors:
                _fail(sub, key, f"certify found {len(relay.errors)} error(s); nothing was "
                      "added (your uploads are kept): " + " | ".join(relay.errors[:5])[:1500],
                      relay)
                return sub
            if kind == "certify":
                if _cancelled_meanwhile(sub, key):
                    return sub
                sub.state = "ready"
                sub.results.update(certify=relay.lines, warnings=relay.warnings)
                sub.save()
                channels.push(key, "done", {"status": channels.STATUS_OK,
                                            "result": result_url(sub)})
                return sub
            if kind == "batch":
                _stage(sub, files, pmap, auto_rename, relay)
            else:
                _stage_as_is(sub, files, auto_rename and kind == "references", relay)
        except channels.Aborted:
            _fail(sub, None, "stopped by the submitter (jpoll_abort)", relay)
            return sub
        except SubmissionError as exc:
            _fail(sub, key, str(exc), relay)
            return sub
        except Exception as exc:  # the crds library's own failures, by message
            log.exception("submission %s failed", sub.id)
            _fail(sub, key, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}", relay)
            return sub
    if _cancelled_meanwhile(sub, key):
        shutil.rmtree(staging_dir(sub), ignore_errors=True)
        return sub
    sub.state = "ready"
    sub.save()
    channels.push(key, "done", {"status": channels.STATUS_OK, "result": result_url(sub)})
    return sub


def _cancelled_meanwhile(sub: Submission, key: str | None) -> bool:
    """A lock that expired (or a logout) while this request was working cancelled it."""
    state, reason = Submission.objects.filter(id=sub.id).values_list("state", "reason").get()
    if state != "cancelled":
        return False
    sub.state, sub.reason = state, reason
    channels.push(key, "done", {"status": channels.STATUS_CANCELLED, "result": result_url(sub)})
    return True


#: A submission still "processing" after this long died with its request (a killed worker).
STALE_PROCESSING = datetime.timedelta(hours=1)


def _supersede(user: str) -> None:
    """One submission at a time per submitter: a new one (another tab, another client run)
    cancels the user's submissions waiting for confirm (their staging goes, uploads stay),
    and waits for none still being processed, unless that one is stale."""
    pending = Submission.objects.filter(user=user, state__in=("processing", "ready"))
    now = timezone.now()
    busy = [s for s in pending if s.state == "processing" and now - s.created < STALE_PROCESSING]
    if busy:
        raise SubmissionError(f"your submission {busy[0].id} is still being processed "
                              "(another tab or client); wait for its result, or cancel it")
    for old in pending:
        cancel(old, "superseded by a newer submission of yours (another tab or client run)")


def _certify(files: list[Path], pmap: str, compare: bool, relay: Relay) -> None:
    from crds.certify import certify

    with crds_on():
        for n, path in enumerate(files, 1):
            relay.current = path.name
            relay.say(f"certifying {path.name} ({n}/{len(files)}) against {pmap}")
            certify.certify_files([str(path)], context=pmap, observatory=store.observatory(),
                                  compare_old_reference=compare, check_rmap=False,
                                  dump_provenance=True, skip_banner=True)
        relay.current = "(submission)"


def _stage(sub: Submission, files: list[Path], pmap: str, auto_rename: bool,
           relay: Relay) -> None:
    """The new references (official names), rmaps, imaps and pmap in the staging cache."""
    from crds import utils as crds_utils
    from crds.refactoring import newcontext, refactor

    obs = store.observatory()
    staging = staging_dir(sub)
    shutil.rmtree(staging, ignore_errors=True)
    maps, refs = staging / "mappings" / obs, staging / "references" / obs
    maps.mkdir(parents=True)
    refs.mkdir(parents=True)
    (staging / "config" / obs).mkdir(parents=True)
    taken: set[str] = set()
    renamed: dict[str, str] = {}
    with crds_on():
        context = store.mapping(pmap)
        closure = context.mapping_names()
        for path in files:
            new = official_reference_name(path, taken) if auto_rename else path.name
            if not auto_rename and store.path_of(new, "reference").exists():
                raise SubmissionError(f"{new}: the store has a file of this name")
            taken.add(new)
            renamed[path.name] = new
            shutil.copyfile(path, refs / new)
            relay.say(f"{path.name} is {new}")
        by_rmap: dict[str, list[str]] = {}
        for path in files:
            instrument, filekind = crds_utils.get_file_properties(obs, str(path))
            try:
                old_rmap = context.get_imap(instrument).get_rmap(filekind).filename
            except Exception:
                raise SubmissionError(f"{path.name}: {pmap} has no rules for {instrument} "
                                      f"{filekind}; a new type needs a new rmap "
                                      "(Submit Mappings)") from None
            by_rmap.setdefault(old_rmap, []).append(renamed[path.name])
    for name in closure:
        os.symlink(store.path_of(name, "mapping"), maps / name)
    new_rmaps = []
    with crds_on(staging):
        for old_rmap, names in sorted(by_rmap.items()):
            prefix = old_rmap.rsplit("_", 1)[0]
            new_rmap = next_serial_name(prefix, ".rmap", taken)
            taken.add(new_rmap)
            relay.say(f"inserting {', '.join(names)} into {old_rmap}, producing {new_rmap}")
            refactor.rmap_insert_references(str(maps / old_rmap), str(maps / new_rmap),
                                            [str(refs / n) for n in names])
            if not (maps / new_rmap).exists():
                raise SubmissionError(f"inserting {', '.join(names)} changed nothing in "
                                      f"{old_rmap} (the same files are already there)")
            new_rmaps.append(new_rmap)
        updates = newcontext.get_update_map(pmap, new_rmaps)
        new_names = {pmap: next_serial_name(f"{obs}", ".pmap", taken)}
        for imap in sorted(updates):
            new_names[imap] = next_serial_name(imap.rsplit("_", 1)[0], ".imap", taken)
            taken.add(new_names[imap])
        new_contexts = newcontext.generate_new_contexts(pmap, updates, new_names)
        for name in [*new_rmaps, *new_contexts]:
            _set_header(maps / name, derived_from=_derived(name, pmap, new_names, by_rmap,
                                                            new_rmaps),
                        description=sub.description)
    for name in closure:  # the staging area keeps only what is new
        (maps / name).unlink()
    new_pmap = next(n for n in new_contexts if n.endswith(".pmap"))
    sub.new_context = new_pmap
    sub.results.update(renamed=renamed, mappings=[*new_rmaps, *new_contexts],
                       certify=relay.lines, warnings=relay.warnings,
                       rmaps=dict(zip(sorted(by_rmap), new_rmaps, strict=True)),
                       contexts={k: v for k, v in new_names.items()})
    relay.say(f"new context {new_pmap} derived from {pmap}")


def _stage_as_is(sub: Submission, files: list[Path], rename: bool, relay: Relay) -> None:
    """Submit References / Submit Mappings: the files themselves, no rules generated (the
    references renamed to official names; the mappings under the names they carry). A
    submitted pmap becomes the edit context on confirm."""
    obs = store.observatory()
    staging = staging_dir(sub)
    shutil.rmtree(staging, ignore_errors=True)
    taken: set[str] = set()
    renamed, mappings = {}, []
    for path in files:
        is_mapping = path.name.endswith((".pmap", ".imap", ".rmap"))
        new = official_reference_name(path, taken) if rename and not is_mapping else path.name
        if store.path_of(new).exists():
            raise SubmissionError(f"{new}: the store has a file of this name")
        taken.add(new)
        kind = "mappings" if is_mapping else "references"
        dest = staging / kind / obs / new
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        if is_mapping:
            mappings.append(new)
        else:
            renamed[path.name] = new
            relay.say(f"{path.name} is {new}")
    pmaps = [m for m in mappings if m.endswith(".pmap")]
    sub.new_context = pmaps[0] if len(pmaps) == 1 else ""
    sub.results.update(renamed=renamed, mappings=mappings, certify=relay.lines,
                       warnings=relay.warnings)


def _derived(name: str, pmap: str, new_names: dict, by_rmap: dict, new_rmaps: list) -> str:
    old = {v: k for k, v in new_names.items()}
    old.update(dict(zip(new_rmaps, sorted(by_rmap), strict=True)))
    return old.get(name, pmap)


def _set_header(path: Path, **fields) -> None:
    """derived_from and the description in a new mapping's header, checksum rewritten."""
    from crds.core import rmap

    loaded = rmap.fetch_mapping(str(path), ignore_checksum=True)
    loaded.header["derived_from"] = fields["derived_from"]
    loaded.header["name"] = path.name
    if fields.get("description") and path.suffix == ".pmap":
        loaded.header["description"] = fields["description"][:200]
    loaded.write(str(path))


# ----------------------------------------------------------------- confirm and cancel


def owned(results_id: str, user: str) -> Submission:
    try:
        sub = Submission.objects.get(id=results_id)
    except (Submission.DoesNotExist, ValueError, ValidationError):  # absent or not a uuid
        raise SubmissionError(f"no submission {str(results_id)[:40]!r}") from None
    if sub.user != user:
        raise SubmissionError("this submission is another user's")
    return sub


def confirm(sub: Submission, user: str) -> Submission:
    """Add the staged files to the store and the catalog, all or nothing; the new pmap
    becomes the edit context; a numbered delivery goes to deliveries/ for the archive."""
    from crds_server import ingest
    from crds_server.interactive.models import AuditLog, File

    if sub.state != "ready" or sub.kind == "certify":
        raise SubmissionError(f"submission {sub.id} is {sub.state}: nothing to confirm")
    staging = staging_dir(sub)
    names = [*sub.results.get("renamed", {}).values(), *sub.results.get("mappings", [])]
    taken = list(File.objects.filter(name__in=names).values_list("name", flat=True))
    if taken:
        raise SubmissionError(f"{', '.join(sorted(taken))} were catalogued by another "
                              "delivery meanwhile; cancel and submit again")
    before = {n for n in names if store.path_of(n).exists()}
    try:
        with transaction.atomic():
            _still_confirmable(sub)
            report = ingest.ingest_tree(staging, user=user, description=sub.description,
                                        read_headers=True, action="submit")
            if report.refused or report.counts.get("catalogued", 0) != len(names):
                raise SubmissionError("the staged files did not pass the catalog's checks: "
                                      + "; ".join(f"{k}: {v}" for k, v in
                                                  sorted(report.refused.items())))
            uploaded = {v: k for k, v in sub.results.get("renamed", {}).items()}
            for record in File.objects.filter(name__in=names):
                record.state = "delivered"
                record.uploaded_as = uploaded.get(record.name, record.name)
                record.deliverer_user = user
                record.creator_name = sub.creator or user
                record.description = sub.description
                record.change_level = sub.change_level
                record.derived_from = _derived_from(record.name, sub)
                record.save()
            if sub.new_context:
                store.set_context(sub.new_context, which="edit", user=user,
                                  description=sub.description)
            delivery = _deliver(sub, names, user)
            sub.state, sub.delivery = "confirmed", delivery.number
            sub.save()
            AuditLog.objects.create(user=user, action=f"{sub.kind} submit",
                                    filename=sub.new_context or names[0],
                                    observatory=sub.observatory,
                                    details=f"{len(names)} files, delivery {delivery.catalog}: "
                                            f"{sub.description[:500]}")
    except Exception:
        for name in names:  # nothing partial: what this confirm put in the store goes again
            if name not in before:
                store.path_of(name).unlink(missing_ok=True)
        _undeliver(sub)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    for uploaded in sub.results.get("uploaded", []):
        with contextlib.suppress(area.UploadError):
            area.delete(user, uploaded)
    _mail(sub, names)
    return sub


def _still_confirmable(sub: Submission) -> None:
    """Inside the confirm's transaction, with the submission's row locked: it is still
    ready (not confirmed by a second click or tab, not superseded), and the edit context has
    not moved since it was made, or confirming would leave the delivery that moved it out
    of the rules."""
    current = Submission.objects.select_for_update().get(id=sub.id)
    if current.state != "ready":
        raise SubmissionError(f"submission {sub.id} is {current.state}"
                              + (f" ({current.reason})" if current.reason else "")
                              + ": nothing to confirm")
    if not sub.new_context:
        return
    defaults = store.default_contexts()
    edit, then = (defaults.edit if defaults else ""), sub.results.get("edit_at_start", "")
    if edit != then:
        raise SubmissionError(
            f"the edit context moved from {then or 'none'} to {edit} since this submission "
            f"was made (another delivery or a set context); confirming {sub.new_context} "
            "would leave that change out of the rules: cancel, and submit again")


def _derived_from(name: str, sub: Submission) -> str:
    for old, new in {**sub.results.get("rmaps", {}), **sub.results.get("contexts", {})}.items():
        if new == name:
            return old
    return sub.derived_from if name.endswith(".pmap") else "none"


def _deliver(sub: Submission, names: list[str], user: str) -> Delivery:
    """deliveries/: each file hard-linked to its store copy, and the numbered .cat list
    hard-linked to its permanent copy in catalogs/ (seed 000's protocol)."""
    deliveries, catalogs = Path(settings.CRDS_DELIVERIES_DIR), Path(settings.CRDS_CATALOGS_DIR)
    deliveries.mkdir(parents=True, exist_ok=True)
    catalogs.mkdir(parents=True, exist_ok=True)
    last = Delivery.objects.select_for_update().filter(observatory=sub.observatory).order_by(
        "-number").first()
    number = (last.number if last else 0) + 1
    while (catalogs / f"opus_{number}_{sub.observatory[0]}.cat").exists():
        number += 1
    catalog = f"opus_{number}_{sub.observatory[0]}.cat"
    sub.results["delivery_catalog"] = catalog  # before any file, so _undeliver finds them
    listing = "".join(f"{n}\n" for n in names)
    permanent = catalogs / catalog
    tmp = catalogs / f".{catalog}.new"
    tmp.write_text(listing)
    os.replace(tmp, permanent)
    for name in names:
        target = deliveries / name
        if not target.exists():
            os.link(store.path_of(name), target)
    os.link(permanent, deliveries / catalog)
    return Delivery.objects.create(number=number, observatory=sub.observatory, catalog=catalog,
                                   user=user, files=names)


def _undeliver(sub: Submission) -> None:
    catalog = sub.results.get("delivery_catalog")
    if not catalog:
        return
    for name in [*sub.results.get("renamed", {}).values(), *sub.results.get("mappings", []),
                 catalog]:
        (Path(settings.CRDS_DELIVERIES_DIR) / name).unlink(missing_ok=True)
    (Path(settings.CRDS_CATALOGS_DIR) / catalog).unlink(missing_ok=True)


def _mail(sub: Submission, names: list[str]) -> None:
    from django.core.mail import send_mail

    from crds_server.submission import redcat

    extra = sub.results.get("redcat") or {}
    to = [a.strip() for a in str(settings.CRDS_TEAM_EMAIL).split(",") if a.strip()]
    to += [a for a in redcat.other_emails(extra) if a not in to]
    if not to:
        return
    details = "".join(f"  {k}: {v}\n" for k, v in extra.items())
    body = (f"{sub.user} delivered {len(names)} files to {settings.CRDS_SERVER} "
            f"({sub.observatory}): the edit context is now {sub.new_context} "
            f"(derived from {sub.derived_from}).\n\n{sub.description}\n\n"
            + "".join(f"  {n}\n" for n in names)
            + (f"\nDelivery details (ReDCaT):\n{details}" if details else "")
            + f"\ndelivery {sub.results.get('delivery_catalog')}\n{result_url(sub)}\n")
    try:
        send_mail(f"CRDS {sub.observatory.upper()} delivery {sub.new_context} by {sub.user}",
                  body, None, to, fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - the delivery stands; say the mail did not go
        log.warning("delivery mail for %s not sent: %s", sub.id, exc)


def cancel(sub: Submission, reason: str = "cancelled by the submitter") -> Submission:
    """No trace in the store, the catalog, the contexts or the deliveries; the upload area
    as it was."""
    if sub.state in ("confirmed", "cancelled"):
        return sub
    shutil.rmtree(staging_dir(sub), ignore_errors=True)
    sub.state, sub.reason = "cancelled", reason
    sub.save()
    return sub


def cancel_all(user: str, reason: str) -> int:
    subs = list(Submission.objects.filter(user=user, state__in=("processing", "ready")))
    for sub in subs:
        cancel(sub, reason)
    return len(subs)

