"""The cron jobs on a converged lab (marker `lab`): real SMTP to the lab mail host, the
mail read back from its sink (/var/mail/sink), crontabs as installed by the roles.

Lab: the session's converged lab (tests/conftest.py: crdsci on 127.0.7.x, or the lab
named by CRDS_LAB_NAME/CRDS_LAB_BLOCK); the converge seeds its servers with the demo rules.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import os
import re
import subprocess
import time

import pytest

from fleet.paths import ROOT, VENV_BIN

pytestmark = pytest.mark.lab

LAB = os.environ.get("CRDS_LAB_NAME", "crdscron")
BLOCK = os.environ.get("CRDS_LAB_BLOCK", "4")
ENV = {**os.environ, "CRDS_LAB_NAME": LAB, "CRDS_LAB_BLOCK": BLOCK, "CRDS_INVENTORY": "lab",
       "CONTAINERS_CONF": str(ROOT / "lab" / "containers.conf")}
SUBJECT = re.compile(r"^OK: CRDS jwst test datasets affected (jwst_\d+\.pmap) --> "
                     r"(jwst_\d+\.pmap) on \d{4}-\d\d-\d\d-\d\d:\d\d:\d\d\.\d\d : (\d+) affected$")


def podman(*args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True,
                          check=check)


def on(host: str, script: str, check=True) -> str:
    return podman("exec", f"{LAB}-{host}", "sh", "-c", script, check=check).stdout


def invoke(*args, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(VENV_BIN / "invoke"), *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, check=False, timeout=1800)
    if check and done.returncode:
        raise AssertionError(f"invoke {' '.join(args)}: {done.returncode}\n"
                             f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def sink() -> set[str]:
    """The mails in the sink's Maildir (fails when the sink is not there)."""
    return set(on("crdsmail", "find /var/mail/sink/new /var/mail/sink/cur -type f "
                  "-printf '%f\\n'").split())


def read_mail(name: str) -> email.message.EmailMessage:
    raw = podman("exec", f"{LAB}-crdsmail", "sh", "-c",
                 f"cat /var/mail/sink/new/{name} 2>/dev/null || cat /var/mail/sink/cur/{name}")
    return email.message_from_string(raw.stdout, policy=email.policy.default)


def new_mails(before: set[str]) -> list[email.message.EmailMessage]:
    return [read_mail(n) for n in sorted(sink() - before)]


@pytest.fixture(scope="module", autouse=True)
def lab_is_there(converged_lab):
    assert podman("container", "exists", f"{LAB}-tljwcrds", check=False).returncode == 0


def contexts(server: str) -> tuple[str, list[str]]:
    host = {"jwst-test": "tljwcrds", "jwst-dev": "dljwcrds"}[server]
    obs_dir = f"/ifs/crds/jwst/{server.split('-')[1]}/file_cache/mappings/jwst"
    pmaps = sorted(on(host, f"ls {obs_dir} | grep '\\.pmap$'").split())
    old = on(host, "cat /crds/data1/tljwcrds/monitor_reprocessing/old_context.txt "
             "2>/dev/null || true").strip()
    return old, pmaps


def set_operational(server: str, pmap: str) -> None:
    invoke("manage", "--server", server, "--", "set_context", "--operational", pmap)


LOCK = "/crds/data1/tljwcrds/server/logs/locks/monitor_reprocessing.lock"


def test_context_change_mails_once_with_both_attachments_and_never_twice_at_once():
    invoke("cron.run", "--server", "jwst-test", "--job", "monitor_reprocessing")  # settle
    old, pmaps = contexts("jwst-test")
    assert old in pmaps
    new = next(p for p in reversed(pmaps) if p != old)
    before = sink()
    set_operational("jwst-test", new)
    try:
        # Another run holds the job's lock (as a run that started a moment before would):
        # this start exits at once, computes nothing and mails nothing.
        # flock -o: the lock is flock's own (its child sleeps without it), so killing flock
        # by its exact name releases it; `pkill -f` would match this shell's own command.
        podman("exec", "-d", f"{LAB}-tljwcrds", "flock", "-o", LOCK, "sleep", "120")
        on("tljwcrds", f"for i in $(seq 50); do flock -n {LOCK} true || exit 0; sleep 0.2; "
                       "done; exit 1")  # the holder has it
        held = invoke("cron.run", "--server", "jwst-test", "--job", "monitor_reprocessing")
        assert "already running" in held.stderr, held.stderr[-2000:]
        assert contexts("jwst-test")[0] == old  # old_context.txt untouched
        assert not [m for m in new_mails(before) if "datasets affected" in m["Subject"]]
        on("tljwcrds", "pkill -x flock")

        done = invoke("cron.run", "--server", "jwst-test", "--job", "monitor_reprocessing")
        assert "already running" not in done.stderr, done.stderr[-2000:]
        mails = [m for m in new_mails(before) if "datasets affected" in m["Subject"]]
        assert len(mails) == 1, [m["Subject"] for m in mails]
        mail = mails[0]
        subject = " ".join(str(mail["Subject"]).split())
        match = SUBJECT.match(subject)
        assert match and match.group(1) == old and match.group(2) == new, subject
        assert "crds_jwst_test_reprocessing@" in mail["To"]
        parts = {p.get_filename(): p for p in mail.iter_attachments()}
        assert set(parts) == {f"{old}_{new}_affected_datasets.log",
                              f"{old}_{new}_affected_ids.txt.gz"}
        log = parts[f"{old}_{new}_affected_datasets.log"].get_content()
        assert subject in log
        ids = gzip.decompress(parts[f"{old}_{new}_affected_ids.txt.gz"].get_content()).decode()
        assert len(ids.splitlines()) == int(match.group(3))
        assert contexts("jwst-test")[0] == new  # old_context.txt updated
    finally:
        on("tljwcrds", "pkill -x flock || true")
        # Leave jwst-test as the converge made it (its next run mails that change back).
        set_operational("jwst-test", old)
        invoke("cron.run", "--server", "jwst-test", "--job", "monitor_reprocessing")


def probe_mail(host: str = "tljwcrds") -> str:
    """A mail from a server through its relay; its subject once it is in the sink."""
    subject = f"sink probe {time.time_ns()}"
    code = ("import smtplib, sys; s = smtplib.SMTP('crdsmail', 25, timeout=20); "
            "s.sendmail('probe@localhost', ['crds-servers@stsci.edu'], "
            "'Subject: ' + sys.argv[1] + '\\n\\nprobe\\n'); s.quit()")
    podman("exec", f"{LAB}-{host}", "python3", "-c", code, subject)
    return subject


def test_no_change_no_mail():
    invoke("cron.run", "--server", "jwst-test", "--job", "monitor_reprocessing")
    before = sink()
    done = invoke("cron.run", "--server", "jwst-test", "--job", "monitor_reprocessing")
    assert "operational context unchanged" in done.stderr
    # The sink works (a probe through the same relay arrives), so no mail means none sent.
    subject = probe_mail()
    for _ in range(50):
        arrived = new_mails(before)
        if any(m["Subject"] == subject for m in arrived):
            break
        time.sleep(0.2)
    assert [m["Subject"] for m in arrived if "datasets affected" in m["Subject"]] == []
    assert subject in [m["Subject"] for m in arrived], [m["Subject"] for m in arrived]


def crontab(host: str) -> str:
    return on(host, "crontab -u crds -l")


def test_installed_crontabs_per_use_case():
    it, ops, test = crontab("jwdmsbcrds"), crontab("pljwcrds"), crontab("tljwcrds")
    assert "nightly.cron.job" not in it and "nightly.cron.job" in test
    assert "sync_ops_to_grp" in ops and "sync_ops_to_grp" not in test + it
    for text in (it, ops, test):
        assert "*/5 * * * *" in text and "monitor_reprocessing" in text


DEV = "/crds/data1/dljwcrds"
STACK_LINK = f"{DEV}/crds_stacks/current"


def server_info(host: str, port: int = 8001) -> dict:
    """get_server_info asked on the server itself (python there: no curl), CA-verified."""
    answer = on(host, "python3 -c 'import json, ssl, urllib.request as u; "
                "ctx = ssl.create_default_context(cafile=\"/etc/ssl/crds/ca.crt\"); "
                "body = json.dumps({\"jsonrpc\": \"1.0\", \"method\": \"get_server_info\", "
                "\"params\": [], \"id\": 1}).encode(); "
                f"print(u.urlopen(u.Request(\"https://localhost:{port}/json/\", data=body), "
                "context=ctx, timeout=30).read().decode())'")
    return json.loads(answer)["result"]


def port_open(host: str, port: int) -> bool:
    return on(host, "python3 -c 'import socket, sys; s = socket.socket(); s.settimeout(5); "
              f"sys.exit(s.connect_ex((\"127.0.0.1\", {port})))' && echo open || echo closed"
              ).strip() == "open"


def httpd_stacks(host: str, crds: str) -> set[str]:
    """The stack folders the running httpd has loaded (its mod_wsgi), read as crds."""
    out = podman("exec", "-u", "crds", f"{LAB}-{host}", "sh", "-c",
                 f"grep -o 'crds_stacks/crds-[^/]*' /proc/$(cat {crds}/server/run/httpd.pid)"
                 "/maps | sort -u").stdout
    return {line.split("/", 1)[1] for line in out.split()}


def stack_name(host: str) -> str:
    """The stack folder `current` points at."""
    return on(host, f"readlink {STACK_LINK}").strip().rsplit("/", 1)[-1]


@pytest.mark.slow
def test_nightly_rebuilds_a_new_stack_selftests_on_backup_port_and_mails():
    serving = stack_name("dljwcrds")
    info = server_info("dljwcrds")
    before = sink()
    done = invoke("nightly", "--server", "jwst-dev", "--yes", check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    # a NEW, complete stack folder is current, and httpd runs it
    stack = stack_name("dljwcrds")
    assert stack != serving and stack.startswith("crds-"), (serving, stack)
    assert on("dljwcrds", f"cat {DEV}/crds_stacks/{stack}/.stack-complete").strip() == stack
    assert httpd_stacks("dljwcrds", DEV) == {stack}
    # the same server on its normal port: same observatory and contexts
    after = server_info("dljwcrds")
    for key in ("observatory", "operational_context", "edit_context", "mappings"):
        assert after[key] == info[key], key
    # the self-tests ran on the backup port, passed, and the server is back on 8001 only
    err = done.stderr
    steps = ["moving to the backup port 8002", "health suite on port 8002",
             "back to the normal port 8001", "self-tests passed on the backup port 8002"]
    assert all(s in err for s in steps), err[-3000:]
    assert [err.index(s) for s in steps] == sorted(err.index(s) for s in steps)
    oplog = on("dljwcrds", f"tail -n 5 {DEV}/server/logs/operations.log")
    assert f"nightly rebuild: {stack} serving (was {serving})" in oplog
    assert "nightly self-tests passed on the backup port 8002" in oplog
    assert port_open("dljwcrds", 8001) and not port_open("dljwcrds", 8002)
    # the diagnostics of the new stack reached the lab's mail host; no failure mail
    mails = new_mails(before)
    subjects = [" ".join(str(m["Subject"]).split()) for m in mails]
    assert not [s for s in subjects if s.startswith("FAILED")], subjects
    diagnostics = [m for m, s in zip(mails, subjects, strict=True)
                   if s.startswith("OK: CRDS jwst dev nightly diagnostics dljwcrds")]
    assert len(diagnostics) == 1, subjects
    body = diagnostics[0].get_body(("plain",)).get_content()
    assert f"stack_id: {stack}" in body and "== cache consistency" in body


@pytest.mark.slow
def test_nightly_with_broken_pin_fails_mails_and_old_stack_serves():
    serving = stack_name("dljwcrds")
    before = sink()
    done = invoke("nightly", "--server", "jwst-dev", "--yes", "--requirement", "numpy==0.0.1",
                  "--no-tests", check=False)
    assert done.returncode != 0
    assert "stack rebuild failed" in done.stderr
    # the changed pin names a new wheelhouse, which could not be built and left nothing
    built = re.search(r"the wheelhouse (crds-wheels-\w+) could not be built", done.stderr)
    assert built and "numpy==0.0.1" in done.stderr, done.stderr[-3000:]
    assert built.group(1) != on("dljwcrds", f"cat {STACK_LINK}/.wheelhouse").strip()
    wheels = ROOT / ".cache" / "wheels"
    assert not (wheels / built.group(1)).exists()
    assert not list(wheels.glob(f".building-{built.group(1)}-*"))
    assert stack_name("dljwcrds") == serving
    assert server_info("dljwcrds")["observatory"] == "jwst"  # still serving
    assert httpd_stacks("dljwcrds", DEV) == {serving}
    subjects = [" ".join(str(m["Subject"]).split()) for m in new_mails(before)]
    assert "FAILED: CRDS jwst dev nightly rebuild on jwst-dev" in subjects, subjects
    assert any(s.startswith(("OK: CRDS jwst dev nightly diagnostics",
                             "PROBLEMS: CRDS jwst dev nightly diagnostics")) for s in subjects)


@pytest.mark.slow
def test_nightly_stack_that_does_not_come_up_is_switched_back_and_marked_failed():
    # tonight's stack is built and switched to, but its health check cannot pass (asked
    # on a port nobody listens on): the rescue switches back and restarts httpd on it
    serving = stack_name("dljwcrds")
    done = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "cron/nightly_rebuild.yml", "-i", "inventories/lab",
         "-l", "dljwcrds", "-e", "nightly_tag=test-no-health", "-e", "crds_server_health_port=8009",
         "-e", "crds_server_health_retries=1"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=False, timeout=1800)
    output = done.stdout + done.stderr
    failed = re.search(r"tonight's stack (crds-\S+) did not come up", output)
    assert done.returncode != 0 and failed, output[-3000:]
    assert failed.group(1) != serving
    assert stack_name("dljwcrds") == serving
    assert httpd_stacks("dljwcrds", DEV) == {serving}
    assert server_info("dljwcrds")["observatory"] == "jwst"
    mark = f"{DEV}/crds_stacks/{failed.group(1)}/.deploy-failed"  # never a rollback target
    assert on("dljwcrds", f"test -e {mark} && echo marked").strip() == "marked"
