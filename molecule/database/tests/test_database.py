"""database: MariaDB on the lab network, one database and one least-privileged user per server."""

NAME = "crds_hst_test"  # the molecule host is in groups hst and test


def sql(host, statement):
    return host.check_output(f'mysql --batch --skip-column-names -e "{statement}"')


def test_packages(host):
    for pkg in ("mariadb-server", "mariadb-client", "python3-pymysql"):
        assert host.package(pkg).is_installed


def test_service_listens_on_the_network(host):
    assert host.service("mariadb").is_running
    assert host.service("mariadb").is_enabled
    assert host.socket("tcp://0.0.0.0:3306").is_listening


def test_root_uses_the_unix_socket(host):
    grants = sql(host, "SHOW CREATE USER root@localhost")
    assert "unix_socket" in grants


def test_database_and_user(host):
    assert NAME in sql(host, "SHOW DATABASES").split()
    grants = sql(host, f"SHOW GRANTS FOR '{NAME}'@'%'")
    assert f"ON `{NAME}`.*" in grants
    # least privilege: no global privileges, no GRANT OPTION, nothing on other databases
    assert "ON *.*" in grants and "GRANT USAGE ON *.*" in grants
    assert "WITH GRANT OPTION" not in grants
    assert "`mysql`" not in grants


def test_user_logs_in_over_tcp_with_its_password(host):
    out = host.run(
        f"mysql -h 127.0.0.1 -u {NAME} -pmolecule-db-password-not-secret "
        f"-e 'SELECT DATABASE()' {NAME}"
    )
    assert out.rc == 0, out.stderr
    # negative control: a wrong password is refused
    bad = host.run(f"mysql -h 127.0.0.1 -u {NAME} -pwrong -e 'SELECT 1' {NAME}")
    assert bad.rc != 0


def test_no_anonymous_accounts(host):
    assert sql(host, "SELECT COUNT(*) FROM mysql.user WHERE User=''").strip() == "0"
