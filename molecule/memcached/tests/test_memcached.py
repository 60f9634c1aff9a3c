"""memcached: installed, running under systemd, on the loopback only, sized by the variable."""



def test_package(host):
    assert host.package("memcached").is_installed


def test_service(host):
    svc = host.service("memcached")
    assert svc.is_running
    assert svc.is_enabled


def test_listens_on_loopback_only(host, listeners):
    assert host.socket("tcp://127.0.0.1:11211").is_listening
    # negative control: on no other address (not every address, not the container's)
    assert listeners(11211) <= {"127.0.0.1", "::1"}, listeners(11211)


def test_size_from_the_variable(host):
    conf = host.file("/etc/memcached.conf")
    assert conf.contains("^-m 48$")
    assert conf.mode == 0o644
    probe = (
        "import socket, time; s = socket.create_connection(('127.0.0.1', 11211)); "
        "s.sendall(b'stats settings\\r\\nquit\\r\\n'); time.sleep(0.3); "
        "print(s.recv(65536).decode())"
    )
    stats = host.check_output(f'python3 -c "{probe}"')
    assert "STAT maxbytes 50331648" in stats
