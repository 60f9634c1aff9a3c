"""Affected datasets between two CRDS contexts.

    from crds_server.archive import StandInDatasetService
    from crds_server.repro import affected_datasets, subject, mail_log, write_ids_gz

    result = affected_datasets(service, "hst_0211.pmap", "hst_0212.pmap", use="ops")
    subject(result)   # 'OK: CRDS hst ops datasets affected ... : 17 affected'

The engine is the crds library's (``crds bestrefs --affected-datasets``), fed by a
:class:`crds_server.archive.DatasetService`; see :mod:`.engine`.  Sending the mail is
the cron job's business.
"""

from .engine import AffectedResult, CasePlanner, InstrumentStats, affected_datasets
from .report import (
    format_subject,
    ids_filename,
    ids_text,
    mail_log,
    subject,
    truncate_log,
    write_ids_gz,
)

__all__ = [
    "AffectedResult", "CasePlanner", "InstrumentStats", "affected_datasets", "format_subject",
    "ids_filename", "ids_text", "mail_log", "subject", "truncate_log", "write_ids_gz",
]
