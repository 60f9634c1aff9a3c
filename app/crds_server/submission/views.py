"""The submitter's pages, as `crds submit` drives them (server contract, section 7)."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import ensure_csrf_cookie

from crds_server import store
from crds_server.accounts import is_operator, is_submitter
from crds_server.locking import locks
from crds_server.submission import engine, redcat
from crds_server.submission.models import Delivery, Submission


def instruments() -> list[str]:
    from crds.core import utils as crds_utils

    return sorted(crds_utils.get_observatory_package(store.observatory()).INSTRUMENTS)


def _page(request, template, status=200, **context):
    expired = getattr(request, "lock_expired", None)
    if expired:
        context["error"] = (f"your {expired} lock expired, so you were logged out and your "
                            "submission in progress was cancelled (your uploads are kept); "
                            "log in again")
    return render(request, f"submission/{template}", context, status=status)


@ensure_csrf_cookie
def login(request):
    if request.method != "POST":
        return _page(request, "login.html", instruments=instruments(),
                     next=request.GET.get("next", "/"))
    username = request.POST.get("username", "")
    instrument = (request.POST.get("instrument") or "none").lower()
    nxt = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        nxt = "/"
    user = authenticate(request, username=username, password=request.POST.get("password", ""))
    error = None
    if user is None or not (is_submitter(user) or is_operator(user)):
        error = "wrong user name or password, or not a submitter or operator on this server"
    elif instrument != "none" and instrument not in instruments():
        error = (f"{instrument!r} is not a {store.observatory().upper()} instrument; "
                 f"choose one of {', '.join(instruments())} or none")
    else:
        try:
            locks.take(instrument, user.username)
        except locks.LockHeld as exc:
            error = str(exc)
    if error:
        return _page(request, "login.html", instruments=instruments(), next=nxt, error=error,
                     username=username)
    auth_login(request, user)
    request.session["instrument"] = instrument
    return HttpResponseRedirect(nxt)


@ensure_csrf_cookie
def logout(request):
    if request.user.is_authenticated:
        engine.cancel_all(request.user.username, "logged out")
        locks.release(request.user.username)
    auth_logout(request)
    return _page(request, "logged_out.html")


def _submitter(request):
    if not is_submitter(request.user):
        return None
    return request.user.username


def _submission_view(request, kind: str, template: str = "submit.html", redcat_form=False):
    user = _submitter(request)
    page = {"kind": kind}
    if redcat_form:
        page["redcat"] = redcat.fields(tuple(instruments()))
    if user is None:
        return _page(request, template, error="log in first (/login/)", **page)
    instrument = request.session.get("instrument", "none")
    if request.method != "POST":
        return _page(request, template, uploads=engine.area.listing(user),
                     instrument=instrument, **page)
    extra = None
    if redcat_form:
        extra, problems = redcat.validate(request.POST, tuple(instruments()), instrument)
        if problems:
            return _page(request, template, instrument=instrument, error=(
                "the ReDCaT form is incomplete; nothing was submitted (your uploads are "
                "kept): " + "; ".join(problems)), **page)
    try:
        sub = engine.start(user, instrument, request.POST.dict(), kind=kind,
                           key=request.session.get("jpoll_key"),
                           base_url=request.build_absolute_uri("/").rstrip("/"),
                           redcat=extra)
    except engine.SubmissionError as exc:
        return _page(request, template, error=str(exc), instrument=instrument, **page)
    return _result(request, sub)


@ensure_csrf_cookie
def batch_submit_references(request):
    return _submission_view(request, "batch")


@ensure_csrf_cookie
def redcat_submit(request):
    """The extended (ReDCaT) batch form: the batch submission plus its 23 fields."""
    return _submission_view(request, "batch", redcat_form=True)


def redcat_description(request):
    return HttpResponse(redcat.description_yaml(tuple(instruments())),
                        content_type="application/yaml; charset=utf-8")


@ensure_csrf_cookie
def submit_references(request):
    return _submission_view(request, "references")


@ensure_csrf_cookie
def submit_mappings(request):
    return _submission_view(request, "mappings")


@ensure_csrf_cookie
def certify(request):
    return _submission_view(request, "certify")


def _result(request, sub: Submission, confirmed: bool = False, asked: bool = False):
    """The results page; a cancel the submitter asked for is no error."""
    error = None
    if sub.state == "failed":
        error = sub.reason
    elif sub.state == "cancelled" and not asked:
        error = f"cancelled: {sub.reason}"
    return _page(request, "result.html", sub=sub, results=sub.results, error=error,
                 renamed=sorted(sub.results.get("renamed", {}).items()),
                 certify=sorted(sub.results.get("certify", {}).items()),
                 confirmed=confirmed)


@ensure_csrf_cookie
def display_result(request, results_id):
    user = _submitter(request)
    if user is None:
        return _page(request, "result.html", error="log in first (/login/)")
    try:
        sub = engine.owned(results_id, user)
    except engine.SubmissionError as exc:
        return _page(request, "result.html", error=str(exc), status=404)
    return _result(request, sub, confirmed=sub.state == "confirmed")


@ensure_csrf_cookie
def submit_confirm(request):
    user = _submitter(request)
    if user is None:
        return _page(request, "result.html", error="log in first (/login/)")
    if request.method != "POST":
        return HttpResponseRedirect("/")
    button = request.POST.get("button", "")
    try:
        sub = engine.owned(request.POST.get("results_id", ""), user)
        if button == "confirm":
            engine.confirm(sub, user)
        elif button == "cancel":
            engine.cancel(sub)
        else:
            raise engine.SubmissionError(f"button {button[:20]!r}: confirm or cancel")
    except engine.SubmissionError as exc:
        return _page(request, "result.html", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - the confirm rolled back; say so
        engine.log.exception("confirm of %s failed", request.POST.get("results_id"))
        return _page(request, "result.html", error=f"the confirm failed and was undone "
                     f"({type(exc).__name__}); nothing was added. Try again or cancel")
    locks.release(user)
    return _result(request, sub, confirmed=sub.state == "confirmed", asked=True)


def deliveries(request):
    return _page(request, "deliveries.html", deliveries=Delivery.objects.filter(
        observatory=store.observatory())[:200])
