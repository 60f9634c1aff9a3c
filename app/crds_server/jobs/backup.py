"""The nightly backup from cron: the same backup as `invoke backup` (fleet.ops), run on
the server itself by the ops agent (``agent.py backup``) with the arguments the roles
rendered from fleet.ops.backup.backup_args into ``${CRDS}/CRDS_server/host/backup.json``
(only the time stamp is set here)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from crds_server.site_config import SiteConfig

from .runner import JobFailed


def host_dir(cfg: SiteConfig) -> Path:
    return Path(cfg.paths.crds) / "CRDS_server" / "host"


def backup(cfg: SiteConfig, log: logging.Logger, args_file: Path | None = None,
           agent: Path | None = None) -> dict:
    args_file = args_file or host_dir(cfg) / "backup.json"
    agent = agent or host_dir(cfg) / "ops_agent.py"
    for path in (args_file, agent):
        if not path.is_file():
            raise JobFailed(f"{path} is missing: install the crontab with the roles "
                            "(crds_server cron tasks)")
    args = json.loads(args_file.read_text())
    args["stamp"] = datetime.now().strftime("%Y%m%dT%H%M%S")
    done = subprocess.run([sys.executable if sys.executable else "python3", str(agent),
                           "backup"], input=json.dumps(args), capture_output=True,
                          text=True, check=False)
    try:
        out = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise JobFailed(f"backup agent failed ({done.returncode}): "
                        f"{(done.stderr or done.stdout).strip()[-800:]}") from None
    if done.returncode or "error" in out:
        raise JobFailed(f"backup failed: {out.get('error') or done.stderr.strip()[-800:]}")
    log.info("backup %s: %s files, %s bytes, app %s -> %s and %s%s", args["stamp"],
             out["files"], out["bytes"], out.get("app_version") or "?", out["path"],
             out["exchange"],
             f"; removed {', '.join(out['removed'])}" if out.get("removed") else "")
    return out
