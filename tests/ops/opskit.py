"""What the operations lab tests share: the invoke tasks run as a user runs them, and
JSON-RPC to a stand-in's normal port as the crds client sees it (verified TLS)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.request

from fleetlab import FLEET_LAB

from fleet.paths import CACHE, ROOT, VENV_BIN

LAB, BLOCK = FLEET_LAB["CRDS_LAB_NAME"], FLEET_LAB["CRDS_LAB_BLOCK"]
ENV = {**os.environ, **FLEET_LAB, "CRDS_INVENTORY": "lab"}
CA = CACHE / "lab" / LAB / "ca" / "ca.crt"


def url(octet: int) -> str:
    """A stand-in's normal port (its loopback address 127.0.<block>.<octet>)."""
    return f"https://127.0.{BLOCK}.{octet}:8001"


def rpc(url, method, params=(), timeout=10):
    body = json.dumps({"jsonrpc": "1.0", "method": method, "params": list(params), "id": 1})
    req = urllib.request.Request(f"{url}/json/", data=body.encode(),  # noqa: S310
                                 headers={"Content-Type": "application/json-rpc"})
    ctx = ssl.create_default_context(cafile=str(CA))
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as answer:  # noqa: S310
        return json.loads(answer.read())["result"]


def inv(*args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """`invoke <args>` without a terminal (a task that would ask refuses)."""
    done = subprocess.run([str(VENV_BIN / "invoke"), *args], cwd=ROOT, env=ENV, text=True,
                          capture_output=True, check=False, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done
