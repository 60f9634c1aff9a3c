"""Host guarantees of the crds_server role on every converged lab server (marker `lab`),
each with its negative control: the file cache and the secrets are unreadable by anyone
outside crds and crdsoper, and crds's sudo reaches its own two services and nothing else.
"""

from __future__ import annotations

import subprocess

import pytest
from fleetlab import FLEET_LAB, fleet_env
from hostcheck import CRDS_SERVICES, SU_CRDS, as_root, sudo_rules

pytestmark = pytest.mark.lab

LAB = FLEET_LAB["CRDS_LAB_NAME"]
SERVERS = {"plhstcrds": "/ifs/crds/hst/ops", "dlhstcrds": "/ifs/crds/hst/dev",
           "pljwcrds": "/ifs/crds/jwst/ops", "jwdmsccrds": "/ifs/crds/jwst/cit"}


def on(host: str, script: str, user: str | None = None) -> subprocess.CompletedProcess:
    argv = ["podman", "exec", *(["-u", user] if user else []), f"{LAB}-{host}", "sh", "-c",
            script]
    return subprocess.run(argv, env=fleet_env(), capture_output=True, text=True, check=False,
                          timeout=120)


@pytest.fixture(scope="module", autouse=True)
def lab(converged_lab):
    return converged_lab


@pytest.mark.parametrize("host", sorted(SERVERS))
def test_cache_and_secrets_unreadable_by_others(host):
    ifs = SERVERS[host]
    obs = ifs.split("/")[3]
    cache = f"{ifs}/file_cache/mappings/{obs}"
    assert on(host, f"ls {cache} | grep -c map", user="crds").stdout.strip() not in ("", "0")
    for path in (cache, f"{ifs}/file_cache/references/{obs}", f"{ifs}/server_files/catalogs"):
        refused = on(host, f"ls {path}", user="nobody")
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, (path, refused)
    for secret in ("/crds/data1/database/my.cnf", "/crds/data1/database/django_secret_key"):
        assert on(host, f"test -s {secret}", user="crds").returncode == 0, secret
        refused = on(host, f"cat {secret}", user="nobody")
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, secret


@pytest.mark.parametrize("host", sorted(SERVERS))
def test_crds_sudo_reaches_its_two_services_only(host):
    rules = sudo_rules(on(host, "sudo -l -U crds").stdout)
    assert as_root(rules, nopasswd_only=True) == CRDS_SERVICES, rules
    assert as_root(rules) <= CRDS_SERVICES | SU_CRDS, rules
    ok = on(host, "sudo -n /bin/systemctl status crds-httpd memcached", user="crds")
    assert ok.returncode == 0, ok.stderr
    for other in ("/bin/systemctl restart ssh", "/bin/cat /etc/shadow", "/bin/sh -c id"):
        refused = on(host, f"sudo -n {other}", user="crds")
        assert refused.returncode != 0 and "password is required" in refused.stderr, other
    stranger = on(host, "sudo -l -U nobody").stdout
    assert "not allowed to run sudo" in stranger and sudo_rules(stranger) == []
