"""The crontab per use case, rendered from cron/crontab.j2 for every server of the real
fleet with its inventory variables (the same template the crds_server role installs)."""

from __future__ import annotations

import re

import jinja2
import pytest

from fleet.inventory import Inventory
from fleet.paths import ROOT

SERVERS = Inventory("hst,jwst").servers()


def render(host) -> str:
    crds = host.var("crds_home")
    env = {
        "inventory_hostname": host.hostname, "crds_observatory": host.observatory,
        "crds_use": host.use, "crds_server_user": "crds", "crds_server_home": crds,
        "crds_server_user_home": crds, "crds_server_logs": f"{crds}/server/logs",
        "crds_server_mailto": host.var("crds_mailto"),
        "crds_grp_cache": host.var("crds_grp_cache"),
        # the role's defaults: crds_server_cron_nightly / _sync_to_grp
        "crds_server_cron_nightly": not host.var("crds_frozen", False),
        "crds_server_cron_sync_to_grp": host.var("crds_sync_to_grp", False),
    }
    template = jinja2.Environment(undefined=jinja2.StrictUndefined,  # noqa: S701 - a crontab
                                  keep_trailing_newline=True)
    template.filters["bool"] = bool  # ansible's filter; the values here are booleans already
    return template.from_string((ROOT / "cron" / "crontab.j2").read_text()).render(env)


def jobs(text: str) -> dict[str, str]:
    """{script name: schedule} of the crontab's job lines."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        fields = line.split(None, 5)
        script = re.search(r"/CRDS_server/host/(\S+?)'", line).group(1)
        out[script] = " ".join(fields[:5])
    return out


@pytest.mark.parametrize("host", SERVERS, ids=[h.name for h in SERVERS])
def test_crontab_of_each_server(host):
    text = render(host)
    got = jobs(text)
    assert got["monitor_reprocessing"] == "*/5 * * * *"
    assert got["clear_expired_locks"] == "*/5 * * * *"
    assert got["track_deliveries"] == "*/5 * * * *"
    assert got["backup_server"] == "0 3 * * *"
    if host.use in ("bit", "cit"):  # frozen I&T: no nightly
        assert "nightly.cron.job" not in got, text
    else:
        assert got["nightly.cron.job"] == "5 3 * * *"
    if host.use == "ops":
        assert got["sync_ops_to_grp"] == "*/10 * * * *"
    else:
        assert "sync_ops_to_grp" not in got, text
    assert f"MAILTO={host.var('crds_mailto')}" in text.splitlines()
    for line in text.splitlines():  # every job in the crds environment, logged
        if "/CRDS_server/host/" in line and not line.startswith("#"):
            assert "source " in line and ".setenv" in line and ">> " in line


def test_fleet_has_both_cases():
    uses = {h.use for h in SERVERS}
    assert {"ops", "dev", "test", "bit", "cit"} <= uses


def test_every_crontab_job_has_a_script():
    scripts = {p.name for p in (ROOT / "cron" / "host").iterdir()}
    for host in SERVERS:
        assert set(jobs(render(host))) <= scripts


def test_workstation_schedules_the_rebuild_of_dev_and_test_servers_only():
    import subprocess

    from fleet.paths import VENV_BIN

    done = subprocess.run([str(VENV_BIN / "invoke"), "cron.workstation"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    jobs = [line for line in done.stdout.splitlines() if line and not line.startswith("#")
            and "=" not in line.split()[0]]
    assert len(jobs) == 1 and jobs[0].startswith("35 2 * * * "), jobs
    servers = re.search(r"for s in ([\w -]+); do", jobs[0]).group(1).split()
    assert sorted(servers) == ["hst-dev", "hst-test", "jwst-dev", "jwst-test"]
    assert "--no-diagnostics" in jobs[0]  # the servers' own 03:05 cron mails those
