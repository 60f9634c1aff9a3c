"""The README's runbook, run as printed against the session's converged lab (marker `lab`).

Every command in the README's "Runbook" section is run here, word for word but for the
stamp placeholder, on a terminal where a confirmation is answered "y" as an operator
would; a runbook command this test does not know fails it. The server is hst-test, which
no other operations test changes; the test leaves it as it found it (same release, same
catalog, normal port).
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
from opskit import ENV, INIT, commit_with, in_terminal, inv, rpc, url, with_version

from fleet.inventory import Inventory
from fleet.ops.service import Target
from fleet.paths import ROOT, VENV_BIN

pytestmark = pytest.mark.lab

SERVER = "hst-test"
URL = url(12)
PREFIX = ".venv/bin/invoke "


def runbook() -> list[tuple[str, list[str]]]:
    """The runbook's questions (the bold lead of each paragraph) and their commands."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Runbook\n", 1)[1].split("\n## ", 1)[0]
    entries: list[tuple[str, list[str]]] = []
    for block in section.split("\n\n"):
        lead = re.match(r"\*\*(.+?)\*\*", block.strip())
        if lead:
            entries.append((lead.group(1), []))
        for line in block.splitlines():
            if line.startswith("    " + PREFIX):
                assert entries, f"a runbook command before any question: {line}"
                entries[-1][1].append(line.strip())
    return entries


class Book:
    """The runbook's commands; each is run at most once, and all of them must be."""

    def __init__(self):
        self.entries = dict(runbook())
        self.ran: list[str] = []

    def commands(self, lead: str) -> list[str]:
        matches = [k for k in self.entries if k.startswith(lead)]
        assert len(matches) == 1, f"no single runbook entry starts with {lead!r}: {matches}"
        return self.entries[matches[0]]

    def run(self, command: str, **subst: str) -> subprocess.CompletedProcess:
        assert command.startswith(PREFIX), command
        self.ran.append(command)
        for placeholder, value in subst.items():
            command = command.replace(placeholder, value)
        done = in_terminal(*command[len(PREFIX):].split())
        assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout[-3000:]}"
        return done

    def unrun(self) -> list[str]:
        every = [c for cs in self.entries.values() for c in cs]
        return [c for c in every if c not in self.ran]


def catalog(t: Target) -> str:
    code = ("import hashlib; from crds_server.interactive.models import File, ContextHistory;"
            "rows=sorted((f.name,f.sha1sum,f.state) for f in File.objects.all());"
            "print(len(rows), ContextHistory.objects.count(), "
            "hashlib.sha1(repr(rows).encode()).hexdigest())")
    return t.manage(["shell", "-c", code]).stdout.strip()


def add_row(t: Target, name: str) -> None:
    t.manage(["shell", "-c", "from crds_server.interactive.models import File; "
              f"File.objects.create(name='{name}', observatory='hst', type='reference', "
              "size=1, sha1sum='0')"])


def interrupt_a_restore(t: Target) -> None:
    """A restore killed once its database step is done: the server on its backup port."""
    proc = subprocess.Popen([str(VENV_BIN / "invoke"), "restore", "--server", SERVER, "--yes"],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stderr:
        if line.startswith("step ") and "put catalogs, deliveries" in line:
            proc.kill()
            break
    proc.wait()
    stuck = status()
    assert stuck["port_mode"] == "backup" and stuck["unfinished"]["operation"] == "restore"
    assert t.listening() == {8002}


def status() -> dict:
    return json.loads(inv("status", "--server", SERVER, "--json").stdout)[0]


@pytest.fixture(scope="module")
def server(converged_lab):
    t = Target(Inventory("lab").server(SERVER), "lab")
    yield t
    t.close()


def test_the_runbook_works_as_printed(server):
    book = Book()
    assert set(book.entries) and all(book.entries.values()), book.entries
    before = status()
    assert before["up"] and before["port_mode"] == "normal", before
    inv("backup", "--server", SERVER, "--yes")  # something to restore
    rows = catalog(server)

    # Is it up, and on which port?
    everyone, one = book.commands("Is it up")
    out = book.run(everyone).stdout
    for name in ("hst-ops", "hst-test", "hst-dev", "jwst-ops", "jwst-bit", "jwst-cit"):
        assert name in out
    out = book.run(one).stdout
    # The table's row (a terminal also shows the live "waiting for hst-test" line).
    row = next(ln for ln in out.splitlines() if ln.lstrip().startswith("│") and
               f" {SERVER} " in ln)
    assert " yes " in row and " normal " in row, out

    # Where are the logs?
    listing, error_log, oplog = book.commands("Where are the logs")
    out = book.run(listing).stdout
    for log in ("error_log", "access_log", "operations.log"):
        assert log in out, out
    assert "/crds/data1/tlhstcrds/server/logs" in out
    assert "== /crds/data1/tlhstcrds/server/logs/error_log" in book.run(error_log).stdout
    assert re.search(r" backup \d{8}T\d{6}: ", book.run(oplog).stdout)

    # Which backups are there?
    (backups,) = book.commands("Which backups")
    out = book.run(backups).stdout
    stamps = re.findall(r"^\W*(\d{8}T\d{6})\W.*\byes\b", out, re.M)
    assert stamps, out
    assert "(shared latest)" in out

    # Restore a server: the plan, the restore, the plan of a restore from a stamp.
    plan, restore, from_stamp = book.commands("Restore a server")
    out = book.run(plan).stdout
    assert "plan: restore on hst-test" in out and "dry run: nothing changed" in out
    out = book.run(restore).stdout
    assert "restore hst-test -> hst-test done" in out, out[-2000:]
    assert catalog(server) == rows and status()["port_mode"] == "normal"
    assert server.listening() == {8001}
    out = book.run(from_stamp, STAMP=stamps[-1]).stdout
    assert f"/db_backups/{stamps[-1]}" in out and "dry run: nothing changed" in out

    # A mirror or restore was interrupted: kill one once its database step is done, then
    # resume it; kill another, then abort it.
    resume, abort_plan, abort = book.commands("A mirror or restore was interrupted")
    interrupt_a_restore(server)
    out = book.run(resume).stdout
    assert "resuming the unfinished restore" in out, out[-2000:]
    back = status()
    assert back["port_mode"] == "normal" and back["unfinished"] is None
    assert server.listening() == {8001}
    assert catalog(server) == rows
    assert rpc(URL, "get_server_info")["operational_context"] == before["operational_context"]
    add_row(server, "hst_runbook_added_0001.fits")  # what a restore would take away
    changed = catalog(server)
    interrupt_a_restore(server)
    out = book.run(abort_plan).stdout
    assert "dry run: nothing changed" in out and server.listening() == {8002}
    out = book.run(abort).stdout
    assert "aborted" in out and "safety backup" in out, out[-2000:]
    assert server.listening() == {8001} and status()["unfinished"] is None
    assert catalog(server) == changed, "the abort did not bring back the server as it was"
    # As it was: the row added (with no file behind it) is the one problem there is.
    store = server.check_store(sha1=True)
    assert store["missing"] == ["hst_runbook_added_0001.fits"], store
    assert not any(store[k] for k in ("size_mismatch", "sha1_mismatch", "orphans",
                                      "broken_contexts")), store
    server.manage(["shell", "-c", "from crds_server.interactive.models import File; "
                   "File.objects.filter(name='hst_runbook_added_0001.fits').delete()"])
    assert catalog(server) == rows

    # Roll back a release: first give the server a newer release to roll back from.
    newer = f"{before['version']}.post911"
    commit = commit_with({INIT: with_version(newer)}, f"runbook test release {newer}")
    inv("deploy", "--server", SERVER, "--version", commit, "--yes", timeout=1800)
    assert status()["version"] == newer
    plan, rollback = book.commands("Roll back a release")
    out = book.run(plan).stdout
    assert "plan: rollback on hst-test" in out and "dry run: nothing changed" in out
    assert status()["version"] == newer
    book.run(rollback)
    after = status()
    assert after["release"] == before["release"] and after["version"] == before["version"]
    assert rpc(URL, "get_server_info")["server_version"] == before["version"]

    # Restart it.
    (rerun,) = book.commands("Restart it")
    started = time.monotonic()
    out = book.run(rerun).stdout
    assert "hst-test answers (normal port)" in out, out
    assert rpc(URL, "get_server_info")["operational_context"] == before["operational_context"]
    print(f"rerun took {time.monotonic() - started:.1f}s")

    # Whom do the cron mails reach? What the server has installed, as the inventory says.
    (mail,) = book.commands("Whom do the cron mails reach")
    out = book.run(mail).stdout
    host = Inventory("lab").server(SERVER)
    assert host.var("crds_mailto") in out, out
    for recipient in host.var("crds_affected_datasets_recipients"):
        assert recipient in out, out
    assert f"{host.var('crds_mail_relay')}:25 from" in out, out

    assert book.unrun() == [], "runbook commands this test does not run"
