"""JSON-RPC 1.0 endpoint at /json/ (and /json/<method>/<id>/, which the client posts to).

Every answer is HTTP 200 with both "error" and "result"; only a database outage is
answered 503 (by crds_server.middleware), so callers can tell "try later" apart.
"""

from __future__ import annotations

import html
import json
import logging
import re

from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from crds_server.jsonapi import methods

log = logging.getLogger("crds_server.jsonapi")


def _answer(rpc_id, result=None, error: str | None = None, name="OtherError") -> HttpResponse:
    body = {"jsonrpc": "1.0", "id": rpc_id, "result": result, "error": None}
    if error is not None:
        body["error"] = {"name": name, "code": 500, "message": f"{name}: {error}", "data": None}
    return JsonResponse(body, content_type="application/json-rpc", safe=False,
                        json_dumps_params={"separators": (",", ":")})


@csrf_exempt
def jsonrpc(request, path=""):
    if request.method != "POST":
        return _answer(None, error="post a JSON-RPC 1.0 request: "
                       '{"jsonrpc":"1.0","method":...,"params":[...],"id":...}',
                       name="BadRequest")
    try:
        message = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return _answer(None, error=f"the request body is not JSON ({exc})", name="ParseError")
    if not isinstance(message, dict):
        return _answer(None, error="the request must be a JSON object with method and params",
                       name="InvalidRequest")
    rpc_id = message.get("id")
    if not isinstance(rpc_id, (str, int, float, type(None))) or isinstance(rpc_id, bool):
        rpc_id = None
    method = message.get("method")
    try:
        result = methods.call(method, message.get("params", []), request)
    except methods.RpcError as exc:
        return _answer(rpc_id, error=str(exc))
    except DatabaseError:
        raise  # the middleware answers 503
    except Exception as exc:  # noqa: BLE001 - never a 500 for a client's request
        log.exception("JSON-RPC %s failed", str(method)[:80])
        return _answer(rpc_id, error=failure(method, message.get("params"), exc))
    return _answer(rpc_id, result=result)


PATH_RE = re.compile(r"(?:[A-Za-z]:)?(?:/[^\s'\"/:,()\[\]]+)+/([^\s'\"/:,()\[\]]+)")


def failure(method, params, exc: BaseException) -> str:
    """What the caller learns of a failure: the method, what it asked about, the error's
    first line with every file system path cut down to the file's own name. Never the
    server's paths, never a stack (those are in the server's log)."""
    asked = ""
    if isinstance(params, list) and params and isinstance(params[0], str):
        asked = f" for {params[0][:80]!r}"
    first = (str(exc).strip().splitlines() or [""])[0]
    text = PATH_RE.sub(r"\1", f"{type(exc).__name__}: {first}")[:300]
    return f"{str(method)[:80]} failed{asked}: {html.escape(text, quote=False)}"
