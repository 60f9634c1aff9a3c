"""The nightly diagnostics of every server: configuration,
disk usage, code status (app version, stack id, app build) and cache consistency and
orphans (check_store), mailed to MAILTO."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from datetime import datetime
from pathlib import Path

from crds_server.site_config import SiteConfig


def _du(path: Path) -> tuple[int, int]:
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            files += 1
            size += st.st_size
    return files, size


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def code_status() -> dict:
    import crds_server

    prefix = Path(sys.prefix)
    stack = Path(os.environ.get("CRDS_STACK", prefix))
    build = prefix / ".app-wheel.sha256"
    return {
        "app_version": crds_server.__version__,
        "stack": str(stack),
        "stack_id": Path(os.path.realpath(stack)).name,
        "python": f"{platform.python_version()} ({sys.executable})",
        "app_build": build.read_text().strip() if build.exists() else "(not recorded)",
    }


def collect(cfg: SiteConfig, sha1: bool = True) -> dict:
    from crds_server import store

    trees = {"crds": cfg.paths.crds, "file_cache": cfg.paths.file_cache,
             "server_files": cfg.paths.server_files, "logs": cfg.paths.logs}
    disk = {}
    for name, path in trees.items():
        path = Path(path)
        if not path.exists():
            disk[name] = {"path": str(path), "missing": True}
            continue
        usage = shutil.disk_usage(path)
        files, size = _du(path) if name != "crds" else (None, None)
        disk[name] = {"path": str(path), "fs_total": usage.total, "fs_free": usage.free,
                      "fs_used_pct": round(100 * usage.used / usage.total, 1),
                      "files": files, "bytes": size}
    return {"server": cfg.server, "observatory": cfg.observatory, "use": cfg.use,
            "when": datetime.now().isoformat(timespec="seconds"),
            "config": Path(cfg.source).read_text(), "config_path": str(cfg.source),
            "disk": disk, "code": code_status(),
            "store": store.check_store(verify_sha1=sha1)}


def problems(report: dict) -> list[str]:
    out = []
    store = report["store"]
    for kind in ("missing", "size_mismatch", "sha1_mismatch", "orphans"):
        if store.get(kind):
            out.append(f"{len(store[kind])} {kind.replace('_', ' ')}")
    for name, d in report["disk"].items():
        if d.get("missing"):
            out.append(f"{name} {d['path']} is missing")
        elif d["fs_used_pct"] >= 95:
            out.append(f"{name} file system {d['fs_used_pct']}% full")
    return out


def subject(report: dict) -> str:
    bad = problems(report)
    head = "PROBLEMS" if bad else "OK"
    tail = f": {'; '.join(bad)}" if bad else ""
    return (f"{head}: CRDS {report['observatory']} {report['use']} nightly diagnostics "
            f"{report['server']} {report['when'][:10]}{tail}")


def render(report: dict) -> str:
    lines = [subject(report), ""]
    code = report["code"]
    lines += ["== code status", *(f"{k}: {v}" for k, v in code.items()), ""]
    lines += ["== disk usage"]
    for name, d in report["disk"].items():
        if d.get("missing"):
            lines.append(f"{name}: {d['path']} MISSING")
            continue
        tree = (f", tree {d['files']} files {_gib(d['bytes'])}" if d["files"] is not None
                else "")
        lines.append(f"{name}: {d['path']}: fs {d['fs_used_pct']}% used, "
                     f"{_gib(d['fs_free'])} free of {_gib(d['fs_total'])}{tree}")
    store = report["store"]
    lines += ["", "== cache consistency (check_store)",
              f"{store['files']} catalogued files checked: "
              + ("consistent" if store["ok"] else "PROBLEMS")]
    for kind in ("missing", "size_mismatch", "sha1_mismatch", "orphans"):
        for name in store.get(kind, []):
            lines.append(f"{kind.upper()}: {name}")
    lines += ["", f"== configuration ({report['config_path']})", report["config"].rstrip()]
    return "\n".join(lines) + "\n"
