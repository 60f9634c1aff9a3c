"""Submissions (a batch of references or mappings on its way into the catalog) and the
numbered deliveries a confirmed one leaves for the archive."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class Submission(models.Model):
    KINDS = [(k, k) for k in ("batch", "references", "mappings", "certify")]
    STATES = [(s, s) for s in ("processing", "ready", "failed", "confirmed", "cancelled")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.CharField(max_length=150, db_index=True)
    instrument = models.CharField(max_length=32, blank=True, default="none")
    observatory = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, choices=KINDS, default="batch")
    state = models.CharField(max_length=16, choices=STATES, default="processing",
                             db_index=True)
    derived_from = models.CharField(max_length=128)
    new_context = models.CharField(max_length=128, blank=True, default="")
    description = models.TextField(blank=True, default="")
    creator = models.CharField(max_length=128, blank=True, default="")
    change_level = models.CharField(max_length=16, default="SEVERE")
    #: {"renamed": {uploaded: official}, "mappings": [new names], "certify": {file: [lines]},
    #:  "errors": [...], "warnings": [...], "collisions": [...], "sizes": {...}}
    results = models.JSONField(default=dict)
    reason = models.TextField(blank=True, default="")
    delivery = models.IntegerField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} by {self.user}: {self.state}"


class Delivery(models.Model):
    """``deliveries/<name>.cat`` and its files; the archive stand-in moves its state on."""

    STATES = [(s, s) for s in ("delivered", "archiving", "archived", "archiving-failed")]

    number = models.IntegerField()
    observatory = models.CharField(max_length=16)
    catalog = models.CharField(max_length=128, unique=True)  # e.g. crds_hst_0001.cat
    user = models.CharField(max_length=150)
    files = models.JSONField(default=list)
    state = models.CharField(max_length=20, choices=STATES, default="delivered")
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["observatory", "number"],
                                               name="unique_delivery_number")]

    def __str__(self) -> str:
        return f"{self.catalog}: {self.state}"
