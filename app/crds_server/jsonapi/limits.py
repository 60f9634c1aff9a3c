"""The bounds of one JSON-RPC request: how big each argument may be and how much work one
call may ask for. They are enforced by views.py (the body) and methods.py (each argument),
and published in get_server_info as ``rpc_limits`` so a client can read them.

They are sized so that the real client's largest legitimate calls fit with room to spare
(`crds sync` asks get_file_info_map about every file of a cache; `crds bestrefs` sends
headers in batches of ``max_headers_per_rpc``), and so that the worst request within them
costs milliseconds to refuse and a bounded time to answer."""

from __future__ import annotations

MAX_BODY_BYTES = 64 * 1024 * 1024   # the request body (Apache refuses more at /json first)
MAX_DEPTH = 16                      # nesting of arrays and objects in the body
MAX_STRING = 256                    # a name, a context spec, a pattern, a key
MAX_PATTERN = 256                   # a glob pattern of list_mappings / list_references
MAX_FILES = 500_000                 # names asked of get_file_info_map at once
MAX_REFTYPES = 256                  # reference types asked of one bestrefs call
MAX_HEADERS = 1000                  # datasets in one get_best_references_by_header_map
MAX_HEADER_KEYS = 5000              # keywords of one dataset header
MAX_KEY = 128                       # a header keyword
MAX_VALUE = 4096                    # a header value
MAX_ID = 128                        # a string request id (longer ones are answered null)
ECHO = 80                           # at most this much of a caller's input is echoed back


def published() -> dict:
    """What get_server_info advertises."""
    return {
        "max_body_bytes": MAX_BODY_BYTES,
        "max_depth": MAX_DEPTH,
        "max_string": MAX_STRING,
        "max_pattern": MAX_PATTERN,
        "max_files": MAX_FILES,
        "max_reftypes": MAX_REFTYPES,
        "max_headers": MAX_HEADERS,
        "max_header_keys": MAX_HEADER_KEYS,
        "max_key": MAX_KEY,
        "max_value": MAX_VALUE,
    }
