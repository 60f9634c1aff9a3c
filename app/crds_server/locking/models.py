"""Instrument locks: one submitter per instrument, expiring 4 hours after the last action."""

from __future__ import annotations

import datetime

from django.db import models
from django.utils import timezone

LOCK_LIFETIME = datetime.timedelta(hours=4)


def _expiry():
    return timezone.now() + LOCK_LIFETIME


class Lock(models.Model):
    name = models.CharField(max_length=64, unique=True)  # the instrument
    type = models.CharField(max_length=32, default="instrument")
    user = models.CharField(max_length=64)
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(default=_expiry)

    def __str__(self) -> str:
        return f"{self.type} lock {self.name} held by {self.user}"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires

    def touch(self) -> None:
        """Every action by the holder restarts the 4 hour timer."""
        self.expires = _expiry()
        self.save(update_fields=["expires"])

    @classmethod
    def clear_expired(cls) -> list[str]:
        """Remove the locks that expired (their holders' submissions are cancelled; their
        uploads stay)."""
        from crds_server.submission import engine

        expired = list(cls.objects.filter(expires__lte=timezone.now()))
        for lock in expired:
            engine.cancel_all(lock.user, reason=f"the {lock.name} lock expired")
            lock.delete()
        return [str(lock) for lock in expired]
