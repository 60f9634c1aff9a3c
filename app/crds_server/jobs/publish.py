"""sync_ops_to_grp: publish the ops server's mappings, references and config
to the global read-only cache /grp/crds/cache (a CRDS cache layout).

A copy of the server's store: new or changed files (size or mtime differ) are written
under a temporary name in their destination folder and renamed into place, so a reader
never sees a half-written file (the config area included).  Nothing is deleted."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from crds_server.site_config import SiteConfig

DEFAULT_DEST = "/grp/crds/cache"
AREAS = ("mappings", "references", "config")


def _same(src: os.stat_result, dst: Path) -> bool:
    try:
        st = dst.stat()
    except FileNotFoundError:
        return False
    return st.st_size == src.st_size and int(st.st_mtime) == int(src.st_mtime)


def publish_file(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    try:
        shutil.copy2(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def publish(cfg: SiteConfig, dest: Path | str, log: logging.Logger) -> dict:
    dest = Path(dest)
    if not dest.is_dir():
        raise FileNotFoundError(f"the global cache {dest} does not exist (or is not a folder); "
                                "create it writable by the crds user")
    obs, cache = cfg.observatory, Path(cfg.paths.file_cache)
    counts = {}
    for area in AREAS:
        src_root = cache / area / obs
        copied = checked = 0
        for src in sorted(p for p in src_root.rglob("*") if p.is_file()):
            rel = src.relative_to(cache)
            checked += 1
            if _same(src.stat(), dest / rel):
                continue
            publish_file(src, dest / rel)
            copied += 1
        counts[area] = {"checked": checked, "copied": copied}
        log.info("%s/%s: %d files, %d copied", area, obs, checked, copied)
    return counts
