"""JSON-RPC 1.0 endpoint at /json/ (and /json/<method>/<id>/, which the client posts to).

Every answer is HTTP 200 with both "error" and "result"; only a database outage is
answered 503 (by crds_server.middleware), so callers can tell "try later" apart. The body
is bounded (limits.MAX_BODY_BYTES, limits.MAX_DEPTH) and every malformed one is answered
with a JSON-RPC error, never a 500; a caller's input is echoed only as a short prefix.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re

from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from crds_server.jsonapi import limits, methods

log = logging.getLogger("crds_server.jsonapi")
USAGE = 'post a JSON-RPC 1.0 request: {"jsonrpc":"1.0","method":...,"params":[...],"id":...}'
MESSAGE_CAP = 600  # characters of an error message


class ParseError(ValueError):
    """The body is not a JSON-RPC request this server will read."""


def _answer(rpc_id, result=None, error: str | None = None, name="OtherError",
            status=200) -> HttpResponse:
    body = {"jsonrpc": "1.0", "id": rpc_id, "result": result, "error": None}
    if error is not None:
        message = f"{name}: {error}"
        if len(message) > MESSAGE_CAP:
            message = message[:MESSAGE_CAP - 3] + "..."
        body["error"] = {"name": name, "code": 500, "message": message, "data": None}
    response = JsonResponse(body, content_type="application/json-rpc", safe=False,
                            status=status, json_dumps_params={"separators": (",", ":")})
    if status == 405:
        response["Allow"] = "POST"
    return response


def _depth(value, limit: int) -> None:
    """Refuse nesting deeper than ``limit`` (iteratively: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            if level > limit:
                raise ParseError(f"the request nests deeper than {limit} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children
                         if isinstance(child, (list, dict)))


def _no_constant(text: str):
    raise ParseError(f"{text} is not JSON (use a number or null)")


def parse(body: bytes) -> dict:
    """The request object of ``body``, or ParseError saying what is wrong with it."""
    if len(body) > limits.MAX_BODY_BYTES:
        raise ParseError(f"the request body is larger than {limits.MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("the request body is not UTF-8 text") from None
    try:
        message = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ParseError(f"the request nests deeper than {limits.MAX_DEPTH} levels") from None
    except ValueError as exc:
        if isinstance(exc, ParseError):
            raise
        raise ParseError(f"the request body is not JSON ({str(exc)[:limits.ECHO]})") from None
    _depth(message, limits.MAX_DEPTH)
    if not isinstance(message, dict):
        raise ParseError("the request must be a JSON object with method and params")
    return message


def valid_id(rpc_id):
    """The request's id if it can be echoed as valid JSON of bounded size, else None."""
    if isinstance(rpc_id, bool) or rpc_id is None:
        return None
    if isinstance(rpc_id, int):
        return rpc_id if abs(rpc_id) < 2**63 else None
    if isinstance(rpc_id, float):
        return rpc_id if math.isfinite(rpc_id) else None
    if isinstance(rpc_id, str):
        return rpc_id if len(rpc_id) <= limits.MAX_ID else None
    return None


@csrf_exempt
def jsonrpc(request, path=""):
    if request.method != "POST":
        return _answer(None, error=USAGE, name="BadRequest", status=405)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limits.MAX_BODY_BYTES:
        return _answer(None, error=f"the request body is larger than "
                       f"{limits.MAX_BODY_BYTES} bytes; send fewer headers per call",
                       name="RequestTooLarge", status=413)
    try:
        message = parse(request.body)
    except ParseError as exc:
        return _answer(None, error=f"{exc}; {USAGE}", name="ParseError")
    rpc_id = request.crds_rpc_id = valid_id(message.get("id"))
    method = message.get("method")
    try:
        result = methods.call(method, message.get("params", []), request)
    except methods.RpcError as exc:
        return _answer(rpc_id, error=str(exc))
    except DatabaseError:
        raise  # the middleware answers 503
    except Exception as exc:  # noqa: BLE001 - never a 500 for a client's request
        log.exception("JSON-RPC %s failed", str(method)[:limits.ECHO])
        return _answer(rpc_id, error=failure(method, message.get("params"), exc))
    return _answer(rpc_id, result=result)


PATH_RE = re.compile(r"(?:[A-Za-z]:)?(?:/[^\s'\"/:,()\[\]]+)+/([^\s'\"/:,()\[\]]+)")


def failure(method, params, exc: BaseException) -> str:
    """What the caller learns of a failure: the method, what it asked about, the error's
    first line with every file system path cut down to the file's own name. Never the
    server's paths, never a stack (those are in the server's log)."""
    asked = ""
    if isinstance(params, list) and params and isinstance(params[0], str):
        asked = f" for {params[0][:limits.ECHO]!r}"
    first = (str(exc).strip().splitlines() or [""])[0]
    text = PATH_RE.sub(r"\1", f"{type(exc).__name__}: {first[:1000]}")[:300]
    return f"{str(method)[:limits.ECHO]} failed{asked}: {html.escape(text, quote=False)}"
