"""Backup + restore of a 100,000-row catalog (invoke backup's agent + the transactional
restore) vs bare `mysqldump | mysql` of the same database, on a lab server.

    CRDS_LAB_NAME=crdsops CRDS_LAB_BLOCK=3 .venv/bin/python bench/backup_restore.py [--rows N]

Adds N synthetic File rows to jwst-dev's catalog, measures, then restores the catalog
as it was (the rows are removed again). Prints JSON and writes bench/results/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fleet.inventory import Inventory
from fleet.ops.backup import backup_args
from fleet.ops.core import stamp
from fleet.ops.service import Target

INSERT = """
INSERT INTO interactive_file (name, uploaded_as, observatory, instrument, filekind, type, state,
  rejected, blacklisted, marked_bad, size, sha1sum, description, comment, aperture, pedigree,
  useafter_date, delivery_date, deliverer_user, deliverer_email, creator_name, derived_from,
  replaced_by_filename, change_level, reference_file_type, history, modified)
SELECT CONCAT('jwst_bench_', LPAD(seq, 7, '0'), '.fits'), '', 'jwst', 'nircam', 'flat',
  'reference', 'archived', 0, 0, 0, 1000, SHA1(seq), REPEAT('d', 100), '', 'none', 'GROUND',
  '2020-01-01 00:00:00', NOW(), 'bench', '', '', 'none', '', 'SEVERE', '', '', NOW()
FROM seq_1_to_{n};
"""


COUNT = "'SELECT COUNT(*) FROM interactive_file'"


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--server", default="jwst-dev")
    args = parser.parse_args()
    inv = Inventory("lab")
    t = Target(inv.server(args.server), inv.spec)
    p = t.paths
    cnf = p.my_cnf
    mysql = f"mysql --defaults-file={cnf}"
    # A clean starting point to come back to.
    before = t.agent("backup", **backup_args(t, stamp(), keep=50))
    t.remote.sh(f"{mysql} -e \"{INSERT.format(n=args.rows)}\"")
    rows = int(t.remote.sh(f"{mysql} -N -e {COUNT}").stdout)
    bare_dir = f"{p.server_dir}/bench"
    t.remote.sh(f"mkdir -p {bare_dir}")
    db = t.remote.sh(f"sed -n 's/^database *= *//p' {cnf}").stdout.strip()
    # Baseline: bare mysqldump | mysql (same database, same rows).
    bare = timed(lambda: t.remote.sh(
        f"mysqldump --defaults-file={cnf} --single-transaction {db} | {mysql}"))
    # Ours: the backup step (dump + copies + manifest) and the transactional restore.
    ours_backup = timed(lambda: t.agent("backup", **backup_args(t, stamp(), keep=50)))
    stage_dir = f"{bare_dir}/stage"
    t.agent("stage", source=p.exchange(), staging=stage_dir, refresh=True)
    ours_restore = timed(lambda: t.agent("restore_db", my_cnf=cnf, staging=stage_dir))
    after = int(t.remote.sh(f"{mysql} -N -e {COUNT}").stdout)
    # Back to the catalog before the bench.
    t.agent("stage", source=before["path"], staging=stage_dir, refresh=True)
    t.agent("restore_db", my_cnf=cnf, staging=stage_dir)
    t.remote.sh(f"rm -rf {bare_dir}")
    out = {"rows": rows, "rows_after_restore": after, "bare_dump_pipe_mysql_s": round(bare, 2),
           "ours_backup_s": round(ours_backup, 2), "ours_restore_s": round(ours_restore, 2),
           "ratio": round((ours_backup + ours_restore) / bare, 2), "goal": "<= 1.2"}
    print(json.dumps(out, indent=1))
    Path("bench/results").mkdir(exist_ok=True)
    Path("bench/results/backup_restore.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
