"""jpoll: the status channels a long view writes to and `crds submit` polls by RPC."""

from __future__ import annotations

import datetime

from django.db import models
from django.utils import timezone

CHANNEL_LIFETIME = datetime.timedelta(days=1)


def _expiry():
    return timezone.now() + CHANNEL_LIFETIME


class Channel(models.Model):
    key = models.CharField(max_length=128, unique=True)
    user = models.CharField(max_length=150, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(default=_expiry, db_index=True)
    aborted = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.key


class Message(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="messages")
    type = models.CharField(max_length=16)
    data = models.TextField()  # JSON: a string for log lines, an object for done/cancel/fail
    time = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.id} {self.type}"
