"""The operators' pages: Set Context, and Mark Files Bad / Good. Each checks everything
first, shows what will change and acts only on a second, confirming POST; the work is
store's (the same as `manage.py set_context`, `mark_bad` and `mark_good`)."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from crds_server import store
from crds_server.accounts import is_operator
from crds_server.interactive.models import File

WHICH = ("operational", "edit")


def operator_required(view):
    @wraps(view)
    def checked(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return HttpResponseRedirect("/login/?" + urlencode({"next": request.path}))
        if not is_operator(request.user):
            return render(request, "crds/operator.html", {
                "error": f"{request.user.username} is not an operator on this server "
                         "(the operators group)"}, status=403)
        return ensure_csrf_cookie(view)(request, *args, **kwargs)
    return checked


@operator_required
def set_context(request):
    defaults = store.default_contexts()
    page = {"contexts": store.pmap_names(clean_only=True), "defaults": defaults,
            "which_choices": WHICH}
    if request.method != "POST":
        return render(request, "crds/set_context.html", page)
    pmap = request.POST.get("context", "").strip()[:128]
    which = request.POST.get("which", "")
    description = request.POST.get("description", "").strip()[:2000]
    page.update(pmap=pmap, which=which, description=description)
    problems = []
    if which not in WHICH:
        problems.append(f"which {which[:20]!r}: choose operational or edit")
    if not description:
        problems.append("describe why (the description goes into the context history)")
    record = File.objects.filter(name=pmap).first()
    if record is None or not pmap.endswith(".pmap"):
        problems.append(f"{pmap or '(none)'} is not a context this server's catalog has")
    elif record.blacklisted or record.rejected:
        problems.append(f"{pmap} is marked bad; choose a clean context")
    else:
        try:
            store.check_context(pmap)
        except store.StoreError as exc:
            problems.append(str(exc))
    current = getattr(defaults, which, "") if defaults and which in WHICH else ""
    if not problems and pmap == current:
        problems.append(f"{pmap} is already the {which} context")
    if problems:
        return render(request, "crds/set_context.html", {**page, "errors": problems},
                      status=400)
    if request.POST.get("confirm") != "yes":
        return render(request, "crds/set_context.html", {**page, "confirming": True,
                                                          "current": current})
    try:
        store.set_context(pmap, which=which, description=description,
                          user=request.user.username)
    except store.StoreError as exc:
        return render(request, "crds/set_context.html", {**page, "errors": [str(exc)]},
                      status=400)
    return render(request, "crds/set_context.html", {
        **page, "defaults": store.default_contexts(), "done": f"the {which} context is now "
        f"{pmap} (was {current or 'none'})"})


def _names(text: str) -> list[str]:
    return list(dict.fromkeys(n for n in text.replace(",", " ").split() if n))[:200]


def _check_marks(names: list[str], bad: bool) -> tuple[dict, dict]:
    """Every name checked before anything changes: (problems by name, users by name)."""
    defaults = store.default_contexts()
    records = {f.name: f for f in File.objects.filter(name__in=names)}
    problems, users = {}, {}
    for name in names:
        record = records.get(name)
        if record is None:
            problems[name] = "not in this server's catalog"
        elif bad and defaults and name == defaults.operational:
            problems[name] = "the operational context: set a clean context first"
        elif bad and record.marked_bad:
            problems[name] = "already marked bad"
        elif not bad and not (record.marked_bad or record.rejected or record.blacklisted):
            problems[name] = "not marked bad"
        elif record.is_mapping:
            users[name] = store.users_of(name)
    return problems, users


@operator_required
def mark_files(request):
    page = {}
    if request.method != "POST":
        return render(request, "crds/mark_files.html", page)
    names = _names(request.POST.get("names", ""))
    bad = request.POST.get("action", "bad") != "good"
    reason = request.POST.get("reason", "").strip()[:2000]
    page.update(names=names, action="bad" if bad else "good", reason=reason,
                names_text="\n".join(names))
    problems, users = _check_marks(names, bad)
    if not names:
        problems["(none)"] = "name at least one file"
    if not reason:
        problems["reason"] = "say why (it goes into the audit log)"
    if problems:
        return render(request, "crds/mark_files.html", {**page, "problems": problems},
                      status=400)
    if request.POST.get("confirm") != "yes":
        return render(request, "crds/mark_files.html", {**page, "confirming": True,
                                                         "users": users})
    act = store.mark_bad if bad else store.mark_good
    try:
        with transaction.atomic():  # all the names or none
            changed = [c for name in names
                       for c in act(name, user=request.user.username, reason=reason)]
    except store.StoreError as exc:
        return render(request, "crds/mark_files.html", {**page, "problems": {"": str(exc)}},
                      status=400)
    return render(request, "crds/mark_files.html", {
        **page, "done": f"marked {'bad' if bad else 'good'}: {', '.join(changed)}"})
