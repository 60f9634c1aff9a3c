"""A submitter's upload area: ``${CRDS_SERVER_FILES}/ingest/<user>/``.

Files arrive whole or in chunks (``Content-Range: bytes s-e/total``); a file being
received is a dot-file beside the others until its last byte lands, then it takes its
name. Files an operator copies there by hand are listed like uploaded ones.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.conf import settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class UploadError(ValueError):
    """A refused upload; the message says why and what to do."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or "/" in name or "\\" in name or ".." in name \
            or not NAME.match(name):
        raise UploadError(f"{str(name)[:80]!r} is not a file name this server takes: letters, "
                          "digits and ._+- only, no path, no '..', not starting with a dot")
    return name


def user_dir(user: str) -> Path:
    check_name(user.replace("@", "_"))
    return Path(settings.CRDS_INGEST_DIR) / user


def listing(user: str) -> list[dict]:
    root = user_dir(user)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        out.append({"name": path.name, "size": path.stat().st_size,
                    "deleteUrl": f"/upload/delete/{path.name}", "deleteType": "GET"})
    return out


def files(user: str) -> list[Path]:
    root = user_dir(user)
    return [root / f["name"] for f in listing(user)]


def receive(user: str, name: str, chunks, content_range: str | None) -> dict:
    """Write an uploaded file (or one chunk of it) to the user's area, streamed."""
    check_name(name)
    limit = settings.CRDS_MAX_UPLOAD_BYTES
    root = user_dir(user)
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f".{name}.part"
    start, total = 0, None
    if content_range:
        found = RANGE.match(content_range.strip())
        if not found:
            raise UploadError(f"Content-Range {content_range[:60]!r} is not 'bytes s-e/total'")
        start, end, total = (int(g) for g in found.groups())
        if end < start or end >= total:
            raise UploadError(f"Content-Range {content_range[:60]!r} is out of order")
    if total is not None and total > limit:
        raise UploadError(f"{name} is {total} bytes; this server takes files up to {limit}")
    if start == 0:
        partial.unlink(missing_ok=True)
    elif not partial.exists() or partial.stat().st_size != start:
        raise UploadError(f"{name}: chunk at byte {start} does not follow the "
                          f"{partial.stat().st_size if partial.exists() else 0} bytes received")
    written = start
    with open(partial, "r+b" if start else "wb") as out:
        out.seek(start)
        for chunk in chunks:
            written += len(chunk)
            if written > limit:
                out.close()
                partial.unlink(missing_ok=True)
                raise UploadError(f"{name} is over {limit} bytes, the largest this server takes")
            out.write(chunk)
    if total is None or written >= total:
        os.replace(partial, root / name)
    return {"name": name, "size": written, "deleteUrl": f"/upload/delete/{name}",
            "deleteType": "GET"}


def delete(user: str, name: str) -> bool:
    path = user_dir(user) / check_name(name)
    if path.is_file():
        path.unlink()
        return True
    return False
