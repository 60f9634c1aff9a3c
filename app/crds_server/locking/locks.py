"""Taking, keeping and giving back instrument locks (one submitter per instrument).

A lock lives ``CRDS_LOCK_MINUTES`` after its holder's last action; a new login by the same
user takes it over; a login by another user is refused while it lives.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crds_server.locking.models import Lock


class LockHeld(RuntimeError):
    pass


def lifetime() -> datetime.timedelta:
    return datetime.timedelta(minutes=settings.CRDS_LOCK_MINUTES)


def take(instrument: str, user: str) -> Lock | None:
    """The lock on ``instrument`` for ``user`` (its other locks given back)."""
    with transaction.atomic():
        Lock.objects.filter(user=user).exclude(name=instrument).delete()
        if instrument in ("", "none"):
            return None
        lock = Lock.objects.select_for_update().filter(name=instrument).first()
        now = timezone.now()
        if lock and lock.user != user and lock.expires > now:
            left = int((lock.expires - now).total_seconds() // 60)
            raise LockHeld(f"{instrument} is locked by {lock.user} for {left} more minutes "
                           "(a lock ends when its holder logs out, confirms or cancels)")
        if lock:
            lock.user, lock.created = user, now
        else:
            lock = Lock(name=instrument, type="instrument", user=user, created=now)
        lock.expires = now + lifetime()
        lock.save()
        return lock


def held(user: str, instrument: str) -> Lock | None:
    lock = Lock.objects.filter(name=instrument, user=user).first()
    return lock if lock and not lock.is_expired else None


def touch(lock: Lock) -> None:
    lock.expires = timezone.now() + lifetime()
    lock.save(update_fields=["expires"])


def release(user: str) -> None:
    Lock.objects.filter(user=user).delete()
