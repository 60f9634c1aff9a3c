"""JSON-RPC to an app instance, as the crds client sends it (one POST per call), for the
app and browser tests' server objects (each has ``url``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


class JsonRpc:
    url: str

    def rpc(self, method: str, *params, raw: bytes | None = None):
        """POST one JSON-RPC request; return (http status, decoded JSON answer)."""
        body = raw if raw is not None else json.dumps(
            {"jsonrpc": "1.0", "method": method, "params": list(params), "id": "t-1"}).encode()
        req = urllib.request.Request(f"{self.url}/json/{method}/t-1/", data=body, headers={  # noqa: S310
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=60) as reply:  # noqa: S310 - loopback
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def result(self, method: str, *params):
        status, answer = self.rpc(method, *params)
        assert status == 200 and answer["error"] is None, answer
        return answer["result"]
