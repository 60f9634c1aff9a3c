"""crds_server: the whole server (site.yml on one host), from accounts to a live get_server_info."""

import json
import re

import hostcheck  # tests/hostcheck.py, on pytest's path (pyproject.toml)
from hostcheck import CRDS_SERVICES, SU_CRDS, as_root

HOST = "mol-crds-server"
CRDS = f"/crds/data1/{HOST}"
IFS = "/ifs/crds/hst/ops"



def test_crds_user_and_group(host):
    user = host.user("crds")
    assert user.shell == "/bin/tcsh"
    assert user.group == "crdsoper"
    assert user.password in ("!", "!*", "*")  # no password login
    assert "crdsoper" in host.user("alice").groups


def sudo_rules(host, user: str) -> list[tuple[str, bool, set[str]]]:
    return hostcheck.sudo_rules(host.run(f"sudo -l -U {user}").stdout)


def test_sudoers(host):
    assert host.run("visudo -cf /etc/sudoers.d/crds").rc == 0
    assert host.file("/etc/sudoers.d/crds").mode == 0o440
    # An operator (crdsoper) becomes crds, and is root only to run `su - crds`.
    alice = sudo_rules(host, "alice")
    assert any(who == "crds" and cmds == {"ALL"} for who, _, cmds in alice), alice
    assert as_root(alice) and as_root(alice) <= SU_CRDS, alice


def test_sudo_limits_crds_to_its_own_services(host):
    crds = sudo_rules(host, "crds")
    # Without a password (crds has none): exactly its two services, nothing else as root.
    assert as_root(crds, nopasswd_only=True) == CRDS_SERVICES, crds
    assert as_root(crds) <= CRDS_SERVICES | SU_CRDS, crds
    status = "/bin/systemctl status crds-httpd memcached"
    assert host.run(f"runuser -u crds -- sudo -n {status}").rc == 0
    # negative controls: any other unit, or a shell, is refused
    for other in ("/bin/systemctl restart ssh", "/bin/systemctl stop crds-httpd",
                  "/bin/sh -c id"):
        done = host.run(f"runuser -u crds -- sudo -n {other}")
        assert done.rc != 0 and "password is required" in done.stderr + done.stdout, other


def test_sudo_refuses_a_non_member(host):
    host.run("id nobody")
    assert sudo_rules(host, "nobody") == []
    assert "not allowed to run sudo" in host.run("sudo -l -U nobody").stdout


def test_static_tree(host):
    for sub in ("CRDS_server/host", "server/conf", "server/logs", "server/db_backups",
                "server/wsgi-scripts", "server/run", "crds_stacks", "monitor_reprocessing"):
        d = host.file(f"{CRDS}/{sub}")
        assert d.is_directory and d.user == "crds"
    db = host.file("/crds/data1/database")
    assert db.user == "crds" and db.mode == 0o700


def test_dynamic_tree(host):
    files = f"{IFS}/server_files"
    for sub in ("catalogs", "deliveries", "uploads", "ingest", "ingest_ssb", "ingest/alice"):
        assert host.file(f"{files}/{sub}").is_directory
    deliveries = host.file(f"{files}/deliveries")
    assert deliveries.group == "crdsoper" and deliveries.mode == 0o2770


def test_cache_not_world_readable(host):
    for sub in ("", "/mappings/hst", "/references/hst", "/config/hst"):
        d = host.file(f"{IFS}/file_cache{sub}")
        assert d.user == "crds" and d.group == "crdsoper"
        assert d.mode & 0o007 == 0
    # negative control: a user outside crdsoper cannot list the cache
    host.run("id nobody")
    assert host.run(f"runuser -u nobody -- ls {IFS}/file_cache/mappings/hst").rc != 0
    assert host.run(f"runuser -u alice -- ls {IFS}/file_cache/mappings/hst").rc == 0


def test_setenv_rendered_for_this_host(host):
    env = host.check_output("runuser -u crds -- /bin/tcsh -c 'source ~/.setenv; env'")
    values = dict(line.split("=", 1) for line in env.splitlines() if "=" in line)
    assert values["CRDS_PROJECT"] == "hst"
    assert values["CRDS_USECASE"] == "ops"
    assert values["CRDS_SERVER"] == HOST
    assert values["CRDS"] == CRDS
    assert values["CRDS_STACK"] == f"{CRDS}/crds_stacks/current"
    assert values["META_PREFIX"] == values["CRDS_STACK"]
    assert values["CRDS_IFS"] == IFS
    assert values["CRDS_FILE_CACHE"] == f"{IFS}/file_cache"
    assert values["CRDS_SERVER_FILES"] == f"{IFS}/server_files"
    assert values["CRDS_AFFECTED_DATASETS_RECIPIENTS"] == (
        "crds_hst_ops_reprocessing@stsci.edu crds_datamng@stsci.edu")
    assert values["PATH"].startswith(f"{CRDS}/CRDS_server/host:{CRDS}/crds_stacks/current/bin:")


def test_aliases(host):
    alias = host.file("/home/crds/.alias").content_string
    for name in ("crds", "server", "stack", "logs", "backups", "deliveries", "catalogs",
                 "ingest", "file_cache", "ifs", "data1"):
        assert f"alias {name} " in alias


def test_secrets_unreadable_by_others(host):
    # negative controls: an operator (crdsoper) and a stranger cannot read them; crds can
    for path in ("/crds/data1/database/my.cnf", "/crds/data1/database/django_secret_key"):
        for user in ("alice", "nobody"):
            assert host.run(f"runuser -u {user} -- cat {path}").rc != 0, (user, path)
        assert host.run(f"runuser -u crds -- cat {path}").rc == 0, path


def test_secrets_are_0600_and_not_in_the_site_config(host):
    for path in ("/crds/data1/database/my.cnf", "/crds/data1/database/django_secret_key"):
        f = host.file(path)
        assert f.user == "crds" and f.mode == 0o600
    site = host.file(f"{CRDS}/server/conf/crds_site.toml").content_string
    assert "molecule-db-password" not in site and "secret-key-not-secret" not in site
    assert 'defaults_file = "/crds/data1/database/my.cnf"' in site
    assert "x_sendfile = true" in site


def test_crontab_of_ops(host):
    tab = host.check_output("crontab -l -u crds")
    assert re.search(r"^MAILTO=\"?crds-servers@stsci.edu\"?$", tab, re.M)
    assert "nightly.cron.job" in tab          # ops is not frozen
    assert "sync_ops_to_grp" in tab           # only ops publishes to /grp
    assert "monitor_reprocessing" in tab and "clear_expired_locks" in tab


def test_services(host, listeners):
    for name in ("memcached", "crds-httpd", "mariadb", "crds-mail-sink"):
        assert host.service(name).is_running
    assert listeners(8001)
    assert listeners(8002) == set()  # negative control: not on any address


RPC = """
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile="/etc/ssl/crds/ca.crt")
body = json.dumps({"jsonrpc": "1.0", "method": "get_server_info", "params": [], "id": 1}).encode()
req = urllib.request.Request("https://localhost:8001/json/", data=body,
                             headers={"Content-Type": "application/json-rpc"})
print(urllib.request.urlopen(req, context=ctx, timeout=60).read().decode())
"""

GET = """
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile="/etc/ssl/crds/ca.crt")
r = urllib.request.urlopen(sys.argv[1], context=ctx, timeout=60)
print(r.status, len(r.read()))
"""


def server_info(host):
    host.check_output("cat > /tmp/rpc.py <<'EOF'\n" + RPC + "\nEOF")
    return json.loads(host.check_output("python3 /tmp/rpc.py"))["result"]


def test_get_server_info_over_tls(host):
    info = server_info(host)
    assert info["observatory"] == "hst"
    context = info["operational_context"]
    assert context.startswith("hst") and context.endswith(".pmap")


def test_mapping_download(host):
    pmap = server_info(host)["operational_context"]
    host.check_output("cat > /tmp/get.py <<'EOF'\n" + GET + "\nEOF")
    url = f"https://localhost:8001/unchecked_get/mappings/hst/{pmap}"
    out = host.check_output(f"python3 /tmp/get.py {url}")
    status, size = out.split()
    assert status == "200" and int(size) > 0
    # negative control: the direct port does not answer plain http
    plain = host.run(
        "python3 -c \"import urllib.request; "
        "urllib.request.urlopen('http://127.0.0.1:8001/', timeout=5)\"")
    assert plain.rc != 0
