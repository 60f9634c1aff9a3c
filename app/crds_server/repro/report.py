"""What the affected-datasets mail carries; no mail is sent here.

Subject::

    <OK|ERRORS|FAILED>: CRDS <obs> <use> datasets affected <old.pmap> --> <new.pmap>
        on <YYYY-MM-DD-HH:MM:SS.ff> : <N> affected          (one line)

Attachments: the log of the run (first and last 200 lines when longer than 400) and a
gzipped text file of the affected ids, one reprocessing suggestion per line.
"""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

from .engine import AffectedResult

LOG_LIMIT = 400  # lines; longer logs keep the first and last LOG_KEEP lines
LOG_KEEP = 200
RULE = "-----"


def format_stamp(when: datetime) -> str:
    """2014-04-23-15:20:27.96 (hundredths of a second)."""
    return when.strftime("%Y-%m-%d-%H:%M:%S.") + f"{when.microsecond // 10000:02d}"


def title(obs: str, use: str, old: str, new: str, when: datetime) -> str:
    return f"CRDS {obs} {use} datasets affected {old} --> {new} on {format_stamp(when)}"


def format_subject(disposition: str, obs: str, use: str, old: str, new: str,
                   when: datetime, count: int) -> str:
    if disposition not in ("OK", "ERRORS", "FAILED"):
        raise ValueError(f"disposition is OK, ERRORS or FAILED, not {disposition!r}")
    return f"{disposition}: {title(obs, use, old, new, when)} : {count} affected"


def subject(result: AffectedResult) -> str:
    """The mail subject for `result`."""
    return format_subject(result.disposition, result.observatory, result.use,
                          result.old_context, result.new_context, result.started, result.count)


def truncate_log(text: str, limit: int = LOG_LIMIT, keep: int = LOG_KEEP) -> str:
    """`text` unchanged up to `limit` lines, else its first and last `keep` lines with one
    marker line between them saying how many were left out."""
    lines = text.splitlines()
    if len(lines) <= limit:
        return text
    dropped = len(lines) - 2 * keep
    marker = f"... {dropped} log lines omitted (first and last {keep} of {len(lines)} kept) ..."
    return "\n".join(lines[:keep] + [marker] + lines[-keep:]) + "\n"


def mail_log(result: AffectedResult) -> str:
    """The log attachment, framed as in the original sample, truncated when long."""
    head = title(result.observatory, result.use, result.old_context, result.new_context,
                 result.started)
    body = result.log_text.rstrip("\n")
    text = f"{RULE}\n{head}\n{RULE}\n{body}\n{RULE}\n{subject(result)}\n{RULE}\n"
    return truncate_log(text)


def ids_text(result: AffectedResult) -> str:
    return "".join(f"{i}\n" for i in result.affected_ids)


def write_ids_gz(result: AffectedResult, path: Path | str) -> Path:
    """Write the affected ids (one per line) gzipped, byte-identical for equal results."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                 mtime=0) as gz:
        gz.write(ids_text(result).encode("ascii"))
    return path


def ids_filename(result: AffectedResult) -> str:
    """e.g. hst_0211.pmap_hst_0212.pmap_affected_ids.txt.gz"""
    return f"{result.old_context}_{result.new_context}_affected_ids.txt.gz"
