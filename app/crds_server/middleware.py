"""The app's own middleware: a JSON 503 when the database is down (instead of a 500 page or
a hang), forwarded headers trusted only from the proxy, and the pages' security policy."""

from __future__ import annotations

import ipaddress
import logging

from django.db import DatabaseError
from django.http import JsonResponse

log = logging.getLogger("crds_server")


RETRY_AFTER = "30"  # seconds a caller is asked to wait when the database is down
FORWARDED = ("HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_FOR",
             "HTTP_X_FORWARDED_SERVER", "HTTP_X_FORWARDED_PORT", "HTTP_FORWARDED")
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def database_unavailable(exc: Exception, rpc_id=None) -> JsonResponse:
    message = (
        "OtherError: the CRDS server's database is unavailable; try again later "
        f"({type(exc).__name__})"
    )
    return JsonResponse(
        {
            "jsonrpc": "1.0",
            "id": rpc_id,
            "result": None,
            "error": {"name": "OtherError", "code": 503, "message": message, "data": None},
        },
        status=503,
        content_type="application/json-rpc",
        headers={"Retry-After": RETRY_AFTER},
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
        log.error("database unavailable for %s %s: %s", request.method, request.path[:200], exc)
        return database_unavailable(exc, getattr(request, "crds_rpc_id", None))


def _networks(entries) -> list:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


class TrustedProxyMiddleware:
    """Drop the X-Forwarded-* headers of a request that did not come from one of the site's
    ``trusted_proxies`` (addresses or networks), so a caller of the direct port cannot
    choose the host and scheme the server advertises in its download URLs."""

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.trusted = _networks(settings.SITE.trusted_proxies)

    def _from_proxy(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def __call__(self, request):
        if not self._from_proxy(request.META.get("REMOTE_ADDR", "")):
            for key in FORWARDED:
                request.META.pop(key, None)
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """The pages load nothing but themselves: no script, no frame, forms post to the site."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            response.setdefault("Content-Security-Policy", CSP)
        return response
