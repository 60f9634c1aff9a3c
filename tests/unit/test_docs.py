"""The README and docs stand on their own: every link stays inside the repository and
resolves, and every command they print runs as printed (the venv's tools by path, tasks
that exist, help that speaks of the fleet)."""

from __future__ import annotations

import re
import subprocess

import pytest

from fleet.paths import ROOT, VENV_BIN

PAGES = ["README.md", "DEVELOPERS.md", "app/README.md", "cron/README.md",
         *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES)
def test_links_stay_inside_the_repository_and_resolve(page):
    path = ROOT / page
    for target in LINK.findall(path.read_text()):
        assert not re.match(r"[a-z]+://", target), f"{page} links outside the repository: {target}"
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{page}: {target} leaves the repository"
        assert resolved.exists(), f"{page}: {target} does not exist"


def readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.startswith("    ") and ln.strip()]


def test_the_readme_starts_with_the_two_commands():
    first = readme_commands()[:2]
    assert [c.split()[:2] for c in first] == [["make", "lab"], ["make", "test"]]


def test_readme_commands_run_as_printed():
    """No bare `invoke`/`ansible-playbook`/`crds`: they live in .venv/bin (the README says
    so before the first one)."""
    for command in readme_commands():
        word = command.split()[0]
        bare = ("invoke", "ansible-playbook", "ansible", "crds", "pytest", "molecule")
        assert word not in bare, f"not runnable as printed (use .venv/bin/{word}): {command}"


def tasks() -> list[str]:
    listed = subprocess.run([str(VENV_BIN / "invoke"), "--list"], cwd=ROOT, text=True,
                            capture_output=True, check=True).stdout
    return re.findall(r"^  (\S+)  ", listed, re.M)


def test_every_task_the_readme_names_exists():
    known = set(tasks())
    named = set()
    for command in readme_commands():
        if command.startswith(".venv/bin/invoke "):
            word = command.split()[1]
            if not word.startswith("-"):
                named |= {w for w in word.split("|")}
    assert named, "the README names no task"
    assert named <= known, f"tasks the README names that do not exist: {named - known}"


def test_task_help_speaks_of_the_fleet_not_of_notes():
    names = tasks()
    assert len(names) > 10, names
    for task in names:
        help_ = subprocess.run([str(VENV_BIN / "invoke"), "--help", task], cwd=ROOT, text=True,
                               capture_output=True, check=True).stdout
        assert not re.search(r"\bseeds? ?\d|\bissue \d", help_, re.I), (task, help_)
