"""Answer quickly and in JSON when the database is down, instead of a 500 page or a hang."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import JsonResponse

log = logging.getLogger("crds_server")


def database_unavailable(exc: Exception) -> JsonResponse:
    message = (
        "OtherError: the CRDS server's database is unavailable; try again later "
        f"({type(exc).__name__})"
    )
    return JsonResponse(
        {
            "jsonrpc": "1.0",
            "id": None,
            "result": None,
            "error": {"name": "OtherError", "code": 503, "message": message, "data": None},
        },
        status=503,
        content_type="application/json-rpc",
    )


class DatabaseUnavailableMiddleware:
    """Turn database errors (server down, refused, timed out) into HTTP 503 + JSON-RPC error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        except DatabaseError as exc:
            return self._answer(request, exc)

    def process_exception(self, request, exc):
        if isinstance(exc, DatabaseError):
            return self._answer(request, exc)
        return None

    def _answer(self, request, exc):
        log.error("database unavailable for %s %s: %s", request.method, request.path, exc)
        return database_unavailable(exc)
