#!/usr/bin/env python3
"""Print the nightly backup's arguments for one server as JSON (the roles write them to
${CRDS}/CRDS_server/host/backup.json): fleet.ops.backup.backup_args, the same arguments
`invoke backup` gives the ops agent, so cron and invoke back up alike.

    backup_args.py <inventory sources, comma-separated> <inventory hostname>
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleet.inventory import Inventory  # noqa: E402
from fleet.ops.backup import backup_args  # noqa: E402
from fleet.ops.service import Target  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    inv = Inventory(argv[1])
    host = next((h for h in inv.servers() if argv[2] in (h.hostname, h.name)), None)
    if host is None:
        print(f"{argv[2]} is not a CRDS server of {argv[1]}", file=sys.stderr)
        return 2
    args = backup_args(Target(host, inv.spec), when="")
    print(json.dumps(args, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
