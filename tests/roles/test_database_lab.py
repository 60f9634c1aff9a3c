"""The database role on the converged lab (marker `lab`): one database and one
least-privileged account per server on crdsdb, each server reaching only its own, with
negative controls (another server's database, a wrong password, root over the network,
anonymous accounts). The molecule scenario checks the same on one host; this one runs in
every `make test`.
"""

from __future__ import annotations

import subprocess

import pytest
from fleetlab import FLEET_LAB, fleet_env

pytestmark = pytest.mark.lab

LAB = FLEET_LAB["CRDS_LAB_NAME"]
SERVERS = {"plhstcrds": "crds_hst_ops", "tlhstcrds": "crds_hst_test",
           "dlhstcrds": "crds_hst_dev", "pljwcrds": "crds_jwst_ops",
           "tljwcrds": "crds_jwst_test", "dljwcrds": "crds_jwst_dev",
           "jwdmsbcrds": "crds_jwst_bit", "jwdmsccrds": "crds_jwst_cit"}
CNF = "/crds/data1/database/my.cnf"


def on(host: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", "exec", f"{LAB}-{host}", "sh", "-c", script],
                          env=fleet_env(), capture_output=True, text=True, check=False,
                          timeout=120)


def mysql(host: str, sql: str, *options: str) -> subprocess.CompletedProcess:
    """The mysql client on a server, with the server's own credentials (its my.cnf)."""
    return on(host, f"mysql --defaults-file={CNF} {' '.join(options)} -N -B -e \"{sql}\"")


@pytest.fixture(scope="module", autouse=True)
def lab(converged_lab):
    return converged_lab


@pytest.mark.parametrize("host", sorted(SERVERS))
def test_each_server_reaches_its_own_database_only(host):
    own = SERVERS[host]
    done = mysql(host, "SELECT DATABASE(), CURRENT_USER()")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [own, f"{own}@%"]
    grants = mysql(host, "SHOW GRANTS").stdout
    assert f"ON `{own}`.*" in grants
    # least privilege: nothing global but USAGE, no GRANT OPTION, not the mysql schema
    global_ = [ln for ln in grants.splitlines() if " ON *.* " in ln]
    assert global_ and all(ln.startswith("GRANT USAGE ON *.*") for ln in global_), grants
    assert "WITH GRANT OPTION" not in grants and "`mysql`" not in grants
    # negative control: another server's database is refused
    other = next(db for db in SERVERS.values() if db != own)
    refused = mysql(host, f"SELECT COUNT(*) FROM {other}.django_migrations")  # noqa: S608
    assert refused.returncode != 0 and "denied" in refused.stderr, refused


def test_wrong_password_and_remote_root_are_refused():
    host = "tlhstcrds"
    wrong = mysql(host, "SELECT 1", "--password=wrong-password")
    assert wrong.returncode != 0 and "Access denied" in wrong.stderr, wrong
    root = on(host, "mysql -h crdsdb -u root --password= -N -e 'SELECT 1'")
    assert root.returncode != 0 and "denied" in root.stderr.lower(), root
    assert mysql(host, "SELECT 1").stdout.strip() == "1"  # the right ones still work


def test_no_anonymous_accounts_and_root_only_on_the_socket():
    done = on("crdsdb", "mysql -N -B -e \"SELECT COUNT(*) FROM mysql.user WHERE User=''; "
                        "SHOW CREATE USER root@localhost\"")
    assert done.returncode == 0, done.stderr
    count, create = done.stdout.split("\n", 1)
    assert count.strip() == "0"
    assert "unix_socket" in create
