"""What the crds library logs inside the server: one short line, once per process.

The library writes its warnings through the Python logger "CRDS". Inside a server some of
them repeat on every request and carry the caller's whole header: a JWST bestrefs call
without the `jwst` package logs "Failed determining reftypes for {...the header...} : No
module named 'jwst'" over ten lines, and a header of 150,000 keywords wrote 29 MB. This
filter cuts each message at the header, joins it into one line, and lets each distinct
message through once per process; the header itself is left to debug level (the library's
own verbose output, off unless CRDS_VERBOSITY is set)."""

from __future__ import annotations

import logging
import re

LOGGER = "CRDS"
LONGEST = 300      # characters of one logged line
REMEMBERED = 1000  # distinct messages remembered per process (then it starts again)
_COUNT = re.compile(r"^\(\d+\) -\s*")


def one_line(text: str) -> str:
    """``text`` without the dumped header (from the first '{' to the last ' : '), on one line."""
    text = _COUNT.sub("", text)
    head, brace, rest = text.partition("{")
    if brace:
        tail = rest.rpartition(" : ")[2] if " : " in rest else ""
        text = f"{head.rstrip()} {{...}}" + (f" : {tail}" if tail else "")
    text = " ".join(text.split())
    return text if len(text) <= LONGEST else text[:LONGEST - 3] + "..."


class OneLineOnce(logging.Filter):
    """Each distinct warning or error of the crds library once per process, on one line."""

    def __init__(self):
        super().__init__()
        self.seen: set[tuple[int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True
        line = one_line(record.getMessage())
        key = (record.levelno, line)
        if key in self.seen:
            return False
        if len(self.seen) >= REMEMBERED:
            self.seen.clear()
        self.seen.add(key)
        record.msg, record.args = line, ()
        return True


def install() -> None:
    """Put the filter on the crds library's logger (once)."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(f, OneLineOnce) for f in logger.filters):
        logger.addFilter(OneLineOnce())
