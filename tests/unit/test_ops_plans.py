"""fleet.ops without the lab: plans, dry runs, refusals, and the server-side agent's file work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fleet.inventory import Inventory
from fleet.ops import agent
from fleet.ops.core import ServerPaths
from fleet.ops.mirror import Mirror
from fleet.ops.service import Target
from fleet.paths import ROOT, VENV_BIN
from fleet.policy import MirrorRefused


@pytest.fixture(scope="module")
def inv():
    return Inventory("lab")


def invoke(*args, stdin=subprocess.DEVNULL):
    env = {**os.environ, "CRDS_INVENTORY": "lab"}
    return subprocess.run([str(VENV_BIN / "invoke"), *args], cwd=ROOT, env=env, stdin=stdin,
                          capture_output=True, text=True, check=False, timeout=120)


def test_paths_from_the_inventory(inv):
    p = ServerPaths.of(inv.server("jwst-dev"))
    assert p.crds == "/crds/data1/dljwcrds"
    assert p.file_cache == "/ifs/crds/jwst/dev/file_cache"
    assert p.exchange("jwst-ops") == "/eng/ssb/crds/backups/jwst-ops/latest"
    assert p.my_cnf == "/crds/data1/database/my.cnf"
    assert (p.port, p.backup_port) == (8001, 8002)


def test_django_server_is_not_an_ops_target(inv):
    with pytest.raises(Exception, match="not an Apache CRDS server"):
        Target(inv.server("hst-django"), inv.spec)


def test_upward_mirror_refused_before_any_connection(inv):
    ops, dev = (Target(inv.server(n), inv.spec) for n in ("jwst-ops", "jwst-dev"))
    with pytest.raises(MirrorRefused, match="downward"):
        Mirror(dev, ops)
    assert dev._remote is None and ops._remote is None  # nothing was even contacted


def test_frozen_destination_needs_force(inv):
    ops, bit = (Target(inv.server(n), inv.spec) for n in ("jwst-ops", "jwst-bit"))
    with pytest.raises(MirrorRefused, match="--force"):
        Mirror(ops, bit)
    assert Mirror(ops, bit, force=True).operation == "mirror"


def test_mirror_plan_keeps_the_backup_port_until_consistent(inv):
    ops, dev = (Target(inv.server(n), inv.spec) for n in ("jwst-ops", "jwst-dev"))
    lines = Mirror(ops, dev).plan().describe()
    text = "\n".join(lines)
    titles = [line for line in lines if "step " in line]
    assert "safety copy" in titles[1]  # what --abort brings back
    assert "backup port 8002" in titles[2] and "normal port 8001" in titles[-2]
    assert "crds sync" in text and "https://pljwcrds:8001" in text
    assert "password" not in text.lower()


def test_restore_plan_and_from_only_for_restore(inv):
    dev = Target(inv.server("jwst-dev"), inv.spec)
    m = Mirror(dev, dev, from_stamp="20240101T030500")
    assert m.source_dir == "/crds/data1/dljwcrds/server/db_backups/20240101T030500"
    assert m.operation == "restore"
    ops = Target(inv.server("jwst-ops"), inv.spec)
    with pytest.raises(Exception, match="only applies to a restore"):
        Mirror(ops, dev, from_stamp="20240101T030500")


def test_cli_mirror_upward_refused_with_the_rule():
    done = invoke("mirror", "--src", "jwst-dev", "--dst", "jwst-ops", "--yes")
    assert done.returncode == 2
    assert "downward only" in done.stderr and "Nothing was changed" in done.stderr


def test_cli_dry_runs_print_the_plan():
    # (a mirror's or restore's dry run first checks its source backup on the server: the
    # lab tests run those)
    done = invoke("backup", "--server", "hst-test", "--dry-run")
    assert done.returncode == 0 and "mysqldump --defaults-file=" in done.stdout
    assert "dry run: nothing changed" in done.stdout


def test_cli_refuses_without_terminal_or_yes():
    done = invoke("backup", "--server", "jwst-dev")
    assert done.returncode == 1
    assert "no terminal" in done.stderr and "--yes" in done.stderr


def test_cli_unknown_server_and_manage_without_args():
    done = invoke("backup", "--server", "nope", "--dry-run")
    assert done.returncode == 2 and "known servers" in done.stderr
    done = invoke("manage", "--server", "jwst-dev")
    assert done.returncode == 2 and "after --" in done.stderr


# ------------------------------------------------------------------ agent (local files)


def test_manifest_roundtrip_and_damage(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.rmap").write_text("header = {}\n")
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    assert agent.write_manifest(tmp_path) == 2
    assert agent.verify_manifest(tmp_path) == 2
    (tmp_path / "a" / "x.rmap").write_text("changed\n")
    with pytest.raises(agent.AgentError, match="damaged"):
        agent.verify_manifest(tmp_path)


def test_replace_tree_quarantines_extra_files(tmp_path):
    backup, live, q = tmp_path / "b", tmp_path / "root" / "live", tmp_path / "q"
    backup.mkdir()
    (backup / "1.cat").write_text("one\n")
    live.mkdir(parents=True)
    (live / "1.cat").write_text("old\n")
    (live / "2.cat").write_text("new since the backup\n")
    moved = agent._replace_tree(backup, live, tmp_path / "root", q)
    assert moved == ["live/2.cat"]
    assert (live / "1.cat").read_text() == "one\n"
    assert (q / "live" / "2.cat").read_text() == "new since the backup\n"


def test_schema_normalization_ignores_counters():
    a = "CREATE TABLE `f` (\n `id` int\n) ENGINE=InnoDB AUTO_INCREMENT=41 DEFAULT CHARSET=utf8;"
    b = "CREATE TABLE `f` (\n `id` int\n) ENGINE=InnoDB AUTO_INCREMENT=99 DEFAULT CHARSET=utf8;"
    assert agent.normalized_schema(a) == agent.normalized_schema(b)
    assert agent.normalized_schema(a) != agent.normalized_schema(a.replace("int", "bigint"))


def test_stage_refuses_a_missing_backup(tmp_path):
    with pytest.raises(agent.AgentError, match="invoke backup --server jwst-ops"):
        agent.cmd_stage({"source": str(tmp_path / "none"), "staging": str(tmp_path / "s"),
                         "src_name": "jwst-ops"})


def test_agent_main_reports_errors_as_json(tmp_path):
    done = subprocess.run([sys.executable, agent.__file__, "state"],
                          input=json.dumps({"path": str(tmp_path / "s.json"), "write": {"a": 1}}),
                          capture_output=True, text=True, check=False)
    assert json.loads(done.stdout) == {"state": {"a": 1}}
    done = subprocess.run([sys.executable, agent.__file__, "nope"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and "usage" in done.stdout


@pytest.mark.parametrize(("freeze", "version"), [
    ("Django==5.2.19\ncrds_server @ file:///crds/data1/x/crds_stacks/crds-0.1.0-ab/"
     "crds_server-0.1.0.post901-py3-none-any.whl\ncrds==14.0.3\n", "0.1.0.post901"),
    ("crds-server==0.1.0\n", "0.1.0"),
    ("crds==14.0.3\nDjango==5.2.19\n", ""),
])
def test_backup_reads_the_app_version_from_pip_freeze(freeze, version):
    assert agent.app_version(freeze) == version
