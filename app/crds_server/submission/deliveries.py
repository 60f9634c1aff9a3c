"""The server's side of the delivery protocol with the archive (seed 000).

A confirmed submission leaves ``deliveries/<catalog>.cat`` (its file list, hard-linked to
``catalogs/``) and its files, hard-linked to the store. The archive renames the list to
show how far it got, and deletes it when the files are archived:

    <catalog>            delivered: waiting for the archive
    <catalog>_proc       archiving
    <catalog>_proc_err   archiving-failed (the archive left it for the operators)
    (gone)               archived

:func:`track` (the ``track_deliveries`` cron job, every 5 minutes) turns what it sees into
the delivery's and its files' states.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

PROC, ERR = "_proc", "_proc_err"


def seen_state(catalog: str, where: Path | None = None) -> str:
    where = Path(where or settings.CRDS_DELIVERIES_DIR)
    if (where / (catalog + ERR)).exists():
        return "archiving-failed"
    if (where / (catalog + PROC)).exists():
        return "archiving"
    if (where / catalog).exists():
        return "delivered"
    return "archived"


def track() -> dict[str, str]:
    """Move each unfinished delivery (and its files) to the state its catalog shows;
    returns {catalog: new state} for the ones that changed."""
    from crds_server.interactive.models import AuditLog, File
    from crds_server.submission.models import Delivery

    changed = {}
    for delivery in Delivery.objects.exclude(state="archived"):
        state = seen_state(delivery.catalog)
        if state == delivery.state:
            continue
        with transaction.atomic():
            File.objects.filter(name__in=delivery.files).update(state=state)
            delivery.state = state
            delivery.save(update_fields=["state", "updated"])
            AuditLog.objects.create(user="archive", action=f"delivery {state}",
                                    filename=delivery.catalog, observatory=delivery.observatory,
                                    details=f"{len(delivery.files)} files")
        changed[delivery.catalog] = state
    return changed
