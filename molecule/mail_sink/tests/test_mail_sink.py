"""mail_sink: SMTP on port 25 keeps every message as a file in /var/mail/sink."""

import time


def test_service(host, listeners):
    svc = host.service("crds-mail-sink")
    assert svc.is_running
    assert svc.is_enabled
    assert listeners(25)


def test_runs_unprivileged(host):
    user = host.check_output("systemctl show -p User --value crds-mail-sink")
    assert user == "mailsink"


def test_a_message_is_kept_as_a_file(host):
    before = set(host.file("/var/mail/sink/new").listdir())
    script = (
        "import smtplib; s = smtplib.SMTP('127.0.0.1', 25); "
        "s.sendmail('crds@test', ['ops@test'], "
        "'Subject: molecule probe\\n\\nhello from verify'); s.quit()"
    )
    host.check_output(f'python3 -c "{script}"')
    for _ in range(20):
        new = set(host.file("/var/mail/sink/new").listdir()) - before
        if new:
            break
        time.sleep(0.5)
    assert len(new) == 1
    body = host.file(f"/var/mail/sink/new/{new.pop()}").content_string
    assert "Subject: molecule probe" in body


def test_nothing_else_is_open(host, listeners):
    # negative control: the sink is SMTP only, no submission port
    assert listeners(587) == set()
