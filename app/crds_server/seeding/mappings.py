"""Render CRDS mapping files (pmap, imap, rmap) as text with a valid sha1sum.

The layout is the one ``crds.core.rmap.Mapping.format`` writes: a ``header``
dict with sorted keys, one ``'key' : repr(value),`` per line, then the
``selector``.  The checksum is the client's (``Mapping._get_checksum``): the
sha1 of the UTF-8 text with every line containing "sha1sum" removed.
"""

from __future__ import annotations

import hashlib

_PLACEHOLDER = "0" * 40


def mapping_checksum(text: str) -> str:
    """The sha1sum a mapping header must carry for `text`."""
    kept = "".join(line for line in text.splitlines(True) if "sha1sum" not in line)
    return hashlib.sha1(kept.encode("utf-8")).hexdigest()  # noqa: S324 - CRDS's own format


def _format_dict(items: dict, indent: int = 0) -> str:
    prefix = " " * 4 * indent
    out = "{\n"
    for key, val in sorted(items.items()):
        rval = _format_dict(val, indent + 1) if isinstance(val, dict) else repr(val)
        out += f"{prefix}    {key!r} : {rval},\n"
    return out + prefix + "}"


def render(header: dict, selector: str, comment: str | None = None) -> str:
    """Return the mapping text for `header` + already formatted `selector`,
    with the header's sha1sum filled in."""
    header = dict(header, sha1sum=_PLACEHOLDER)
    parts = [f"header = {_format_dict(header)}\n\n"]
    if comment:
        parts.append(f'comment = """\n{comment}\n"""\n\n')
    parts.append(f"selector = {selector}\n")
    text = "".join(parts)
    return text.replace(_PLACEHOLDER, mapping_checksum(text), 1)


def format_plain_selector(entries: dict[str, str]) -> str:
    """pmap / imap selector: {'KEY' : 'mapping'}."""
    return _format_dict(entries)


def format_match_useafter(rows: dict[tuple, list[tuple[str, str]]]) -> str:
    """rmap selector: Match({tuple : UseAfter({date : ref})})."""
    out = "Match({\n"
    for key in sorted(rows, key=repr):
        out += f"    {key!r} : UseAfter({{\n"
        for date, ref in sorted(rows[key]):
            out += f"        {date!r} : {ref!r},\n"
        out += "    }),\n"
    return out + "})"
