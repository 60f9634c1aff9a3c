"""Long steps show a live line (step, server, seconds) on a terminal and a table of the
times at the end; a log or a pipe gets the plain lines alone."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys

from fleet.paths import ROOT

SCRIPT = """
import time
from fleet.ops.core import Plan, echo_err
plan = Plan("backup", "hst-test")
plan.add("dump the database", lambda: time.sleep(2.6))
plan.add("copy the catalogs", lambda: None)
plan.execute(echo_err)
"""


def run_in_terminal() -> str:
    main, sub = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, stdin=sub, stdout=sub,
                            stderr=sub, env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(sub)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=30)
    os.close(main)
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_a_terminal_sees_the_step_the_server_and_the_seconds_go_by():
    out = run_in_terminal()
    assert "backup hst-test: step 1/2 dump the database" in out, out
    # Redrawn each second while the step runs: the count goes up.
    assert "dump the database · 1s" in out and "dump the database · 2s" in out, out
    assert "done in 2." in out
    assert "backup on hst-test" in out and "copy the catalogs" in out  # the table


def test_a_pipe_gets_plain_lines_and_the_table():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=60)
    err = done.stderr
    assert "step 1/2: dump the database" in err and "step 2/2: copy the catalogs" in err
    assert "·" not in err and "\x1b[" not in err, err  # no live line, no terminal codes
    assert "backup on hst-test" in err
    assert done.stdout == ""  # stdout stays for data (--json)
