"""The CRDS catalog: files, context history, default contexts and the audit log."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

#: The catalog fields the client knows (contract section 5), all served as strings.
INFO_FIELDS = (
    "name", "uploaded_as", "state", "blacklisted", "rejected", "replaced_by_filename",
    "instrument", "filekind", "type", "observatory", "description", "comment", "aperture",
    "derived_from", "sha1sum", "size", "creator_name", "deliverer_user", "delivery_date",
    "activation_date", "useafter_date", "change_level", "pedigree", "reference_file_type",
    "history",
)


def _date_str(value) -> str:
    if value is None:
        return "none"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


class File(models.Model):
    """One mapping or reference file of the server's file store."""

    TYPES = [("reference", "reference"), ("mapping", "mapping")]

    name = models.CharField(max_length=128, unique=True)
    uploaded_as = models.CharField(max_length=256, blank=True, default="")
    observatory = models.CharField(max_length=16, db_index=True)
    instrument = models.CharField(max_length=32, blank=True, default="", db_index=True)
    filekind = models.CharField(max_length=64, blank=True, default="")
    type = models.CharField(max_length=16, choices=TYPES, db_index=True)
    state = models.CharField(max_length=32, default="archived")
    rejected = models.BooleanField(default=False)
    blacklisted = models.BooleanField(default=False)
    #: marked bad by an operator (the server_info bad_files_list), not just tainted by one
    marked_bad = models.BooleanField(default=False)
    size = models.BigIntegerField()
    sha1sum = models.CharField(max_length=40)
    description = models.TextField(blank=True, default="")
    comment = models.TextField(blank=True, default="")
    aperture = models.CharField(max_length=80, blank=True, default="none")
    pedigree = models.CharField(max_length=80, blank=True, default="")
    useafter_date = models.CharField(max_length=32, blank=True, default="")
    activation_date = models.DateTimeField(null=True, blank=True)
    delivery_date = models.DateTimeField(default=timezone.now)
    deliverer_user = models.CharField(max_length=64, blank=True, default="")
    deliverer_email = models.CharField(max_length=128, blank=True, default="")
    creator_name = models.CharField(max_length=128, blank=True, default="")
    derived_from = models.CharField(max_length=128, blank=True, default="none")
    replaced_by_filename = models.CharField(max_length=128, blank=True, default="")
    change_level = models.CharField(max_length=16, blank=True, default="SEVERE")
    reference_file_type = models.CharField(max_length=64, blank=True, default="")
    history = models.TextField(blank=True, default="")
    modified = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_mapping(self) -> bool:
        return self.type == "mapping"

    @property
    def is_bad(self) -> bool:
        return self.rejected or self.blacklisted

    def info(self, fields=None) -> dict[str, str]:
        """The client's view of this record: every value a string, booleans "true"/"false"."""
        out = {}
        for name in fields or INFO_FIELDS:
            value = getattr(self, name, None)
            if name not in INFO_FIELDS and name not in ("deliverer_email", "id"):
                continue
            if isinstance(value, bool):
                out[name] = "true" if value else "false"
            elif name.endswith("_date"):
                out[name] = _date_str(value)
            else:
                out[name] = "" if value is None else str(value)
        return out


class ContextHistory(models.Model):
    """One Set Context (latest/operational): the pmap in force from start_date on."""

    observatory = models.CharField(max_length=16, db_index=True)
    start_date = models.DateTimeField(db_index=True)
    context = models.CharField(max_length=128)
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["start_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["observatory", "start_date", "context"], name="unique_history_entry"
            )
        ]

    def __str__(self) -> str:
        return f"{_date_str(self.start_date)} {self.context}"

    def as_list(self) -> list[str]:
        return [_date_str(self.start_date), self.context, self.description]


class DefaultContext(models.Model):
    """The operational, edit and versions contexts of one observatory."""

    observatory = models.CharField(max_length=16, unique=True)
    operational = models.CharField(max_length=128, default="")
    edit = models.CharField(max_length=128, default="")
    versions = models.CharField(max_length=128, blank=True, default="")
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.observatory}: operational={self.operational} edit={self.edit}"


class AuditLog(models.Model):
    """Who did what to which file, when."""

    date = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    filename = models.CharField(max_length=128, blank=True, default="")
    observatory = models.CharField(max_length=16, default="")
    details = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-date", "-id"]

    def __str__(self) -> str:
        return f"{_date_str(self.date)} {self.user} {self.action} {self.filename}"


class RemoteContext(models.Model):
    """The context a pipeline reported it synced to (`crds sync --push-context KEY`)."""

    observatory = models.CharField(max_length=16)
    key = models.CharField(max_length=128)
    kind = models.CharField(max_length=32, default="latest")
    context = models.CharField(max_length=128)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["observatory", "key"], name="unique_remote_key")
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.context}"
