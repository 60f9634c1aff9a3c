"""STAND-IN for the archive's delivery pipeline (the STScI archive cannot exist here).

It plays the archive's part of seed 000's protocol on a server's ``deliveries/``
directory: for each ``<catalog>.cat`` it renames the list to ``<catalog>.cat_proc``,
checks that every file the list names is there, then removes the files and the list
(archived). A file that is missing leaves the list renamed ``<catalog>.cat_proc_err``
(archiving-failed) with the files in place, for the operators.

    python -m crds_server.archive.deliveries_standin /ifs/crds/hst/test/server_files/deliveries
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from crds_server.submission.deliveries import ERR, PROC  # the protocol's one statement


def archive_one(cat: Path) -> str:
    proc = cat.with_name(cat.name + PROC)
    os.replace(cat, proc)
    names = [n for n in proc.read_text().split() if n]
    missing = [n for n in names if not (cat.parent / n).is_file()]
    if missing:
        os.replace(proc, cat.with_name(cat.name + ERR))
        return f"{cat.name}: archiving-failed (missing {', '.join(missing)})"
    for name in names:
        (cat.parent / name).unlink()
    proc.unlink()
    return f"{cat.name}: archived ({len(names)} files)"


def run(deliveries: Path) -> list[str]:
    return [archive_one(cat) for cat in sorted(Path(deliveries).glob("*.cat"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deliveries", type=Path)
    args = parser.parse_args(argv)
    if not args.deliveries.is_dir():
        print(f"{args.deliveries}: not a directory", file=sys.stderr)
        return 2
    for line in run(args.deliveries):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
