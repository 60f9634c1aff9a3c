"""stack_build: a venv stack from the wheelhouse only, `current` switched atomically."""

CRDS = "/crds/data1/mol-stack-build"
STACKS = f"{CRDS}/crds_stacks"


def current(host):
    return host.file(f"{STACKS}/current")


def test_current_is_a_link_to_a_complete_stack(host):
    link = current(host)
    assert link.is_symlink
    target = link.linked_to
    assert target.startswith(f"{STACKS}/crds-")
    assert host.file(f"{target}/.stack-complete").exists
    assert host.file(f"{target}/pyvenv.cfg").contains("home = /usr/bin")


def test_stack_belongs_to_crds(host):
    stack = host.file(current(host).linked_to)
    assert stack.user == "crds"
    assert host.file(STACKS).mode == 0o750


def test_pinned_requirements_installed(host):
    py = f"{STACKS}/current/bin/python"
    out = host.check_output(
        f"{py} -c \"import django, crds, numpy, astropy, MySQLdb, pymemcache, mod_wsgi, "
        "crds_server;"
        " print(django.__version__, crds.__version__, numpy.__version__, astropy.__version__)\""
    )
    assert out.split() == ["5.2.19", "14.0.3", "2.4.6", "8.0.2"]
    assert host.run(f"{STACKS}/current/bin/mod_wsgi-express module-config").rc == 0


def test_nothing_compiled_on_the_host(host):
    # mod_wsgi and mysqlclient come as wheels made in the build container; the server keeps
    # its copy of the wheelhouse the stack was built from (named after the requirements,
    # reused by the next rebuild): wheels and the requirements only, no source to compile.
    wheelhouse = host.file(f"{STACKS}/current/.wheelhouse").content_string.strip()
    assert wheelhouse.startswith("crds-wheels-")
    copy = f"{STACKS}/.wheelhouse-{wheelhouse}"
    files = host.check_output(f"ls -A {copy}").split()
    assert "requirements.txt" in files and ".complete" in files
    assert not [f for f in files if not f.endswith(".whl")
                and f not in ("requirements.txt", ".complete")], files
    freeze = host.check_output(f"{STACKS}/current/bin/pip freeze")
    assert "mod_wsgi==6.1.1" in freeze or "mod-wsgi==6.1.1" in freeze


def test_no_temporary_link_left(host):
    # negative control: the atomic switch leaves no current.new behind
    assert not host.file(f"{STACKS}/current.new").exists
