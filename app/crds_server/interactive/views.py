"""Public pages: home, browse the catalog and a file's panes, context history, recent
activity with its search form."""

from __future__ import annotations

import datetime

import crds
from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from crds_server import store
from crds_server.interactive.lookups import like_pattern
from crds_server.interactive.models import INFO_FIELDS, AuditLog, ContextHistory, File

PAGE_ROWS = 100


def home(request):
    history = ContextHistory.objects.filter(observatory=settings.CRDS_OBSERVATORY)
    return render(request, "crds/home.html", {
        "defaults": store.default_contexts(),
        "history": _with_previous(history.order_by("-start_date", "-id")[:5])[:4],
        "latest_files": File.objects.order_by("-delivery_date", "-id")[:10],
        "counts": {
            "mappings": File.objects.filter(type="mapping").count(),
            "references": File.objects.filter(type="reference").count(),
        },
        "crds_version": crds.__version__,
    })


def _in_dates(rows, field: str, q: dict, problems: list[str]):
    """``rows`` whose ``field`` falls on or after q["since"] and on or before q["until"]
    (ISO dates); a date that does not parse is a problem, and that bound is not applied."""
    for bound, lookup in (("since", "gte"), ("until", "lte")):
        if q[bound]:
            try:
                day = datetime.date.fromisoformat(q[bound])
            except ValueError:
                problems.append(f"{bound} {q[bound]!r}: use a date like 2025-01-31")
                continue
            rows = rows.filter(**{f"{field}__date__{lookup}": day})
    return rows


def _page_of(request, rows):
    page = Paginator(rows, PAGE_ROWS).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


def browse_db(request):
    """The catalog, filtered by instrument, filekind, type, state, delivery dates,
    deliverer and name pattern, a page at a time."""
    q = {k: request.GET.get(k, "").strip()[:128] for k in (
        "instrument", "filekind", "type", "state", "deliverer", "name", "since", "until")}
    rows, problems = File.objects.all(), []
    for field in ("instrument", "filekind", "type", "state"):
        if q[field]:
            rows = rows.filter(**{field: q[field]})
    if q["deliverer"]:
        rows = rows.filter(deliverer_user=q["deliverer"])
    if q["name"]:
        rows = rows.filter(name__like=like_pattern(q["name"]))
    rows = _in_dates(rows, "delivery_date", q, problems)
    page, query = _page_of(request, rows.order_by("-delivery_date", "name"))
    choices = [(field, sorted(v for v in File.objects.values_list(field, flat=True).distinct()
                              if v), q[field]) for field in ("instrument", "filekind", "type",
                                                              "state")]
    return render(request, "crds/browse_db.html", {
        "q": q, "page": page, "query": query, "choices": choices, "problems": problems,
        "deliverers": sorted(v for v in File.objects.values_list(
            "deliverer_user", flat=True).distinct() if v),
    })


def _contents(record: File) -> tuple[list[tuple[str, str]], str]:
    """A reference's header cards, or a mapping's text."""
    path = store.path_of(record.name)
    if not path.exists():
        return [], "(the file is not in the store)"
    if record.is_mapping:
        return [], path.read_text(errors="replace")[:200_000]
    from crds import data_file

    try:
        header = data_file.get_header(str(path))
    except Exception as exc:  # noqa: BLE001 - an unreadable file is shown as such
        return [], f"(its header cannot be read: {type(exc).__name__}: {str(exc)[:200]})"
    return [(str(k), str(v)) for k, v in list(header.items())[:1000]], ""


def _lookup_patterns(name: str) -> tuple[str, list[list[tuple[str, str]]]]:
    """The match cases that select the reference ``name`` in the operational context (or
    the edit context when the operational one does not use it), by crds.matches."""
    from crds import matches

    defaults = store.default_contexts()
    for context in dict.fromkeys(c for c in (defaults.operational, defaults.edit) if c) \
            if defaults else ():
        with store.CRDS_LOCK:
            found = matches.find_match_paths_as_dict(context, name)
        if found:
            return context, [[(k, v) for k, v in case.items() if k != "observatory"]
                             for case in found]
    return "", []


def file_page(request, name):
    """A catalogued file's panes: Database, Contents, Past Actions, Used-By, Lookup
    Patterns."""
    record = store.exact_file(name)
    if record is None:
        raise Http404(f"{name} is not in this CRDS server's catalog")
    kind = "mappings" if record.is_mapping else "references"
    info = record.info()
    header, text = _contents(record)
    users = [] if name.endswith(".pmap") else store.users_of(name)
    return render(request, "crds/file.html", {
        "file": record,
        "fields": [(f, info[f]) for f in INFO_FIELDS],
        "download": reverse("unchecked_get", args=[kind, settings.CRDS_OBSERVATORY, name]),
        "activity": AuditLog.objects.filter(filename=name)[:50],
        "header": header, "text": text,
        "used_by": users,
        "patterns": ("", []) if record.is_mapping else _lookup_patterns(name),
    })


def _with_previous(history) -> list:
    """History rows, newest first, each with the context before it (for its differences)."""
    rows = list(history)
    for row, older in zip(rows, [*rows[1:], None], strict=True):
        row.previous = older.context if older else ""
    return rows


def context_history(request):
    return render(request, "crds/context_history.html", {
        "history": _with_previous(ContextHistory.objects.filter(
            observatory=settings.CRDS_OBSERVATORY).order_by("-start_date", "-id")),
        "defaults": store.default_contexts(),
        "contexts": store.pmap_names(),
    })


def recent_activity(request):
    """The audit log, newest first, searched by action, user, instrument, file name
    pattern and dates."""
    q = {k: request.GET.get(k, "").strip()[:128] for k in (
        "action", "user", "instrument", "filename", "since", "until")}
    rows, problems = AuditLog.objects.all(), []
    if q["action"]:
        rows = rows.filter(action=q["action"])
    if q["user"]:
        rows = rows.filter(user=q["user"])
    if q["instrument"]:
        named = File.objects.filter(instrument=q["instrument"]).values("name")
        rows = rows.filter(Q(filename__in=named))
    if q["filename"]:
        rows = rows.filter(filename__like=like_pattern(q["filename"]))
    rows = _in_dates(rows, "date", q, problems)
    page, query = _page_of(request, rows.order_by("-date", "-id"))
    return render(request, "crds/recent_activity.html", {
        "q": q, "page": page, "query": query, "problems": problems,
        "actions": sorted(AuditLog.objects.values_list("action", flat=True).distinct()),
        "instruments": sorted(v for v in File.objects.values_list(
            "instrument", flat=True).distinct() if v),
    })
