"""apache: httpd + mod_wsgi as crds under crds-httpd.service, TLS on 8001, backup port closed.

Run by the apache scenario (a JWST ops host) and by the crds_server one (site.yml on an HST
ops host, which `make test` runs), so each check takes the host's name and observatory from
the scenario's host."""

import pytest

OBSERVATORY = {"mol-apache": "jwst", "mol-crds-server": "hst"}  # molecule.yml's groups


@pytest.fixture(scope="module")
def me(host):
    name = host.check_output("hostname").strip()
    assert name in OBSERVATORY, f"test_apache.py runs on {sorted(OBSERVATORY)}, not {name}"
    crds = f"/crds/data1/{name}"
    return {"name": name, "obs": OBSERVATORY[name], "crds": crds, "conf": f"{crds}/server/conf"}

def test_packages(host):
    for pkg in ("apache2", "libapache2-mod-xsendfile"):
        assert host.package(pkg).is_installed


def test_debian_apache_stays_disabled(host):
    svc = host.service("apache2")
    assert not svc.is_running
    assert not svc.is_enabled


def test_crds_httpd_runs_as_crds(host, me):
    svc = host.service("crds-httpd")
    assert svc.is_running
    assert svc.is_enabled
    users = set(host.check_output("ps -o user= -C apache2").split())
    assert users == {"crds"}
    assert host.file(f"{me['crds']}/server/run/httpd.pid").exists


def test_config_files(host, me):
    for name in ("httpd.conf", "ssl.conf", "ports.conf"):
        f = host.file(f"{me['conf']}/{name}")
        assert f.user == "crds"
        assert f.mode == 0o640
    httpd = host.file(f"{me['conf']}/httpd.conf").content_string
    assert "LoadModule wsgi_module" in httpd and "/crds_stacks/crds-" in httpd
    ssl = host.file(f"{me['conf']}/ssl.conf").content_string
    assert f"XSendFilePath /ifs/crds/{me['obs']}/ops/file_cache" in ssl
    assert f"python-home={me['crds']}/crds_stacks/crds-" in ssl
    assert host.file(f"{me['crds']}/server/wsgi-scripts/crds.wsgi").contains("CRDS_SITE_CONFIG")


def test_configtest(host, me):
    out = host.run(f"apachectl -t -f {me['conf']}/httpd.conf")
    assert out.rc == 0, out.stderr


def test_tls_on_the_normal_port_verified_with_the_ca(host, me, listeners):
    assert listeners(8001)
    out = host.run(
        f"openssl s_client -connect 127.0.0.1:8001 -servername {me['name']} -CAfile "
        f"/etc/ssl/crds/ca.crt -verify_return_error -verify_hostname {me['name']} </dev/null"
    )
    assert out.rc == 0, out.stdout + out.stderr
    assert "Verify return code: 0 (ok)" in out.stdout


def test_tls_policy_aead_only_and_hsts_on_errors(host, me):
    s_client = f"openssl s_client -connect 127.0.0.1:8001 -servername {me['name']}"
    cbc = host.run(f"{s_client} -tls1_2 -cipher "
                   "ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA256:AES128-SHA256 </dev/null")
    assert cbc.rc != 0, "a CBC suite was accepted on TLS 1.2"
    gcm = host.run(f"{s_client} -tls1_2 "
                   "-cipher ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256 </dev/null")
    assert gcm.rc == 0, gcm.stdout + gcm.stderr  # the negative control
    assert host.run(f"{s_client} -tls1_1 </dev/null").rc != 0
    # Apache's own error page (a request line too long for it) carries HSTS too.
    probe = ("import http.client, ssl; c = http.client.HTTPSConnection('127.0.0.1', 8001, "
             "context=ssl._create_unverified_context()); c.request('GET', '/' + 'a' * 9000); "
             "r = c.getresponse(); print(r.status, r.getheader('Strict-Transport-Security'))")
    out = host.check_output(f'python3 -c "{probe}"')
    assert out.startswith("414 max-age=31536000"), out


def test_certificate_names(host, me):
    text = host.check_output(
        f"openssl x509 -noout -ext subjectAltName -in /etc/ssl/crds/{me['name']}.crt")
    names = (f"DNS:{me['name']}", "DNS:localhost", f"DNS:{me['obs']}-crds.stsci.edu",
             "IP Address:127.0.0.1")
    for name in names:
        assert name in text


def test_private_key_only_for_crds(host, me):
    key = host.file(f"/etc/ssl/crds/{me['name']}.key")
    assert key.user == "crds"
    assert key.mode == 0o600


def test_backup_port_not_served_on_the_normal_port(host, me, listeners):
    # negative control: only the selected port is open
    assert listeners(8002) == set()
    assert host.file(f"{me['conf']}/ports.conf").contains("^Listen 8001 https$")
