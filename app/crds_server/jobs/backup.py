"""The nightly backup from cron: the same backup as `invoke backup` (fleet.ops), run on
the server itself by the ops agent (``agent.py backup``) with the arguments the roles
rendered from fleet.ops.backup.backup_args into ``${CRDS}/CRDS_server/host/backup.json``
(only the time stamp is set here)."""

from __future__ import annotations

import importlib.util
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from crds_server.site_config import SiteConfig

from .runner import JobFailed


def load_agent(path: Path) -> ModuleType:
    """The ops agent the roles installed (fleet/ops/agent.py, the one `invoke backup` runs),
    loaded as a module: the same backup code, called directly."""
    spec = importlib.util.spec_from_file_location("crds_ops_agent", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def host_dir(cfg: SiteConfig) -> Path:
    return Path(cfg.paths.crds) / "CRDS_server" / "host"


def stamp(now: datetime | None = None) -> str:
    """A backup's stamp: the time in UTC, as every backup and every reader of one takes it
    (the server's own time zone never enters it)."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def backup(cfg: SiteConfig, log: logging.Logger, args_file: Path | None = None,
           agent: Path | None = None) -> dict:
    args_file = args_file or host_dir(cfg) / "backup.json"
    agent = agent or host_dir(cfg) / "ops_agent.py"
    for path in (args_file, agent):
        if not path.is_file():
            raise JobFailed(f"{path} is missing: install the crontab with the roles "
                            "(crds_server cron tasks)")
    args = json.loads(args_file.read_text())
    args["stamp"] = stamp()
    try:
        out = load_agent(agent).COMMANDS["backup"](args)
    except Exception as exc:  # the agent's AgentError, OSError, a failed mysqldump...
        raise JobFailed(f"backup failed: {exc}") from None
    log.info("backup %s: %s files, %s bytes, app %s -> %s and %s%s", args["stamp"],
             out["files"], out["bytes"], out.get("app_version") or "?", out["path"],
             out["exchange"],
             f"; removed {', '.join(out['removed'])}" if out.get("removed") else "")
    return out
