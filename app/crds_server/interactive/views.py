"""Read-only pages: home, a file's record, context history, recent activity."""

from __future__ import annotations

import crds
from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from crds_server import store
from crds_server.interactive.models import INFO_FIELDS, AuditLog, ContextHistory, File


def home(request):
    history = ContextHistory.objects.filter(observatory=settings.CRDS_OBSERVATORY)
    return render(request, "crds/home.html", {
        "defaults": store.default_contexts(),
        "history": history.order_by("-start_date", "-id")[:4],
        "latest_files": File.objects.order_by("-delivery_date", "-id")[:10],
        "counts": {
            "mappings": File.objects.filter(type="mapping").count(),
            "references": File.objects.filter(type="reference").count(),
        },
        "crds_version": crds.__version__,
    })


def file_page(request, name):
    record = File.objects.filter(name=name).first()
    if record is None:
        raise Http404(f"{name} is not in this CRDS server's catalog")
    kind = "mappings" if record.is_mapping else "references"
    info = record.info()
    return render(request, "crds/file.html", {
        "file": record,
        "fields": [(f, info[f]) for f in INFO_FIELDS],
        "download": reverse("unchecked_get", args=[kind, settings.CRDS_OBSERVATORY, name]),
        "activity": AuditLog.objects.filter(filename=name)[:20],
    })


def context_history(request):
    return render(request, "crds/context_history.html", {
        "history": ContextHistory.objects.filter(
            observatory=settings.CRDS_OBSERVATORY).order_by("-start_date", "-id"),
        "defaults": store.default_contexts(),
    })


def recent_activity(request):
    return render(request, "crds/recent_activity.html",
                  {"entries": AuditLog.objects.all()[:200]})
