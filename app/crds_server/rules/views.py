"""The rules pages (public, read-only): a mapping as a table, the differences between two
contexts, and best references for a dataset. tables.py asks the crds library; the views
only read the request and pick the template. A name the catalog lacks is a 404 page
naming it; input crds cannot use is shown on the form, never as a traceback."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from crds_server import store
from crds_server.rules import tables

#: Rows of an rmap shown per page (?page=N).
PER_PAGE = 200


def _problem(request, message: str, status: int):
    return render(request, "rules/problem.html", {"message": message, "status": status},
                  status=status)


def context_table(request, name):
    try:
        table = tables.context_table(name)
    except tables.NotFound as exc:
        return _problem(request, str(exc), 404)
    except tables.Unusable as exc:
        return _problem(request, str(exc), 500)
    page = None
    if table["kind"] == "reference":
        page = Paginator(table["rows"], PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "rules/context_table.html", {"t": table, "page": page})


def difference(request, old: str = "", new: str = ""):
    old = (old or request.GET.get("old", "")).strip()
    new = (new or request.GET.get("new", "")).strip()
    pmaps = store.pmap_names()
    page = {"pmaps": pmaps, "old": old, "new": new, "result": None, "error": ""}
    status = 200
    try:
        if new and not old:
            tables.catalogued(new)
            old = page["old"] = tables.previous_context(new)
            if not old:
                raise tables.Unusable(f"{new} has no previous context in this server's "
                                      "history; choose the context to compare it with")
        if old and new:
            page["result"] = tables.differences(old, new)
        elif old:
            raise tables.Unusable("choose the new context to compare with " + old)
        else:   # the form alone: the operational context and the one before it
            page["new"] = tables.operational() or (pmaps[0] if pmaps else "")
            page["old"] = tables.previous_context(page["new"]) if page["new"] else ""
    except tables.NotFound as exc:
        page["error"], status = str(exc), 404
    except tables.Unusable as exc:
        page["error"], status = str(exc), 400
    return render(request, "rules/difference.html", page, status=status)


@ensure_csrf_cookie
def bestrefs(request):
    pmaps = store.pmap_names()
    source = request.POST if request.method == "POST" else request.GET
    context = (source.get("context") or tables.operational()).strip()
    page = {"pmaps": pmaps, "context": context, "header_text": source.get("header_text", ""),
            "dataset_id": source.get("dataset_id", "").strip(), "result": None, "error": "",
            "notice": "", "source": ""}
    status = 200
    if request.method != "POST":
        return render(request, "rules/bestrefs.html", page)
    upload = request.FILES.get("dataset")
    try:
        tables.catalogued(context, exts=(".pmap",))
        if upload is not None:
            header, page["source"] = tables.read_upload_header(upload), upload.name
        elif page["header_text"].strip():
            header, page["source"] = tables.parse_header_text(page["header_text"]), "pasted"
        elif page["dataset_id"]:
            header = None
            page["notice"] = f"{page['dataset_id']}: {tables.NO_ARCHIVE}"
        else:
            raise tables.Unusable("give the dataset's file, its header lines, or a dataset id")
        if header is not None:
            page["result"] = tables.best_references(context, header)
            if page["dataset_id"]:
                page["notice"] = (f"the dataset id {page['dataset_id']} was not looked up "
                                  "(no archive dataset service); the header given was used")
    except tables.NotFound as exc:
        page["error"], status = str(exc), 404
    except tables.Unusable as exc:
        page["error"], status = str(exc), 400
    return render(request, "rules/bestrefs.html", page, status=status)
