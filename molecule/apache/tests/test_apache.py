"""apache: httpd + mod_wsgi as crds under crds-httpd.service, TLS on 8001, backup port closed."""

CRDS = "/crds/data1/mol-apache"
CONF = f"{CRDS}/server/conf"



def test_packages(host):
    for pkg in ("apache2", "libapache2-mod-xsendfile"):
        assert host.package(pkg).is_installed


def test_debian_apache_stays_disabled(host):
    svc = host.service("apache2")
    assert not svc.is_running
    assert not svc.is_enabled


def test_crds_httpd_runs_as_crds(host):
    svc = host.service("crds-httpd")
    assert svc.is_running
    assert svc.is_enabled
    users = set(host.check_output("ps -o user= -C apache2").split())
    assert users == {"crds"}
    assert host.file(f"{CRDS}/server/run/httpd.pid").exists


def test_config_files(host):
    for name in ("httpd.conf", "ssl.conf", "ports.conf"):
        f = host.file(f"{CONF}/{name}")
        assert f.user == "crds"
        assert f.mode == 0o640
    httpd = host.file(f"{CONF}/httpd.conf").content_string
    assert "LoadModule wsgi_module" in httpd and "/crds_stacks/crds-" in httpd
    ssl = host.file(f"{CONF}/ssl.conf").content_string
    assert "XSendFilePath /ifs/crds/jwst/ops/file_cache" in ssl
    assert "python-home=/crds/data1/mol-apache/crds_stacks/crds-" in ssl
    assert host.file(f"{CRDS}/server/wsgi-scripts/crds.wsgi").contains("CRDS_SITE_CONFIG")


def test_configtest(host):
    out = host.run(f"apachectl -t -f {CONF}/httpd.conf")
    assert out.rc == 0, out.stderr


def test_tls_on_the_normal_port_verified_with_the_ca(host, listeners):
    assert listeners(8001)
    out = host.run(
        "openssl s_client -connect 127.0.0.1:8001 -servername mol-apache "
        "-CAfile /etc/ssl/crds/ca.crt -verify_return_error -verify_hostname mol-apache </dev/null"
    )
    assert out.rc == 0, out.stdout + out.stderr
    assert "Verify return code: 0 (ok)" in out.stdout


def test_certificate_names(host):
    text = host.check_output(
        "openssl x509 -noout -ext subjectAltName -in /etc/ssl/crds/mol-apache.crt")
    names = ("DNS:mol-apache", "DNS:localhost", "DNS:jwst-crds.stsci.edu", "IP Address:127.0.0.1")
    for name in names:
        assert name in text


def test_private_key_only_for_crds(host):
    key = host.file("/etc/ssl/crds/mol-apache.key")
    assert key.user == "crds"
    assert key.mode == 0o600


def test_backup_port_not_served_on_the_normal_port(host, listeners):
    # negative control: only the selected port is open
    assert listeners(8002) == set()
    assert host.file(f"{CONF}/ports.conf").contains("^Listen 8001 https$")
