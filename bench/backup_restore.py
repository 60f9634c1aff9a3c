"""Backup + restore of a 100,000-row catalog (invoke backup's agent + the transactional
restore) vs bare `mysqldump` + `mysql` of the same database, on a lab server.

    CRDS_LAB_NAME=crdsci CRDS_LAB_BLOCK=7 .venv/bin/python bench/backup_restore.py \
        [--rows N] [--server hst-test]

Adds N synthetic reference rows to the server's catalog (interactive_file: a value for
every column of the model; the INSERT names the columns the deployed schema has), then,
one after the other on the same database:

* baseline: ``mysqldump --single-transaction <db> > bare.sql`` then ``mysql <db> < bare.sql``
  run on the server (its defaults file), i.e. dump and reload with mysqldump's defaults
  (DROP/CREATE, extended inserts, table locks, keys disabled while loading). Not
  ``mysqldump | mysql`` into the same database: that deadlocks on a big table (the load's
  DROP TABLE waits for the dump's metadata lock, the dump for the full pipe) until the
  server drops the dump's connection;
* ours: the agent's ``backup`` (what `invoke backup` runs: schema + data dump, catalogs,
  deliveries, mappings, config, package lists, sha1 manifest, dated copy + the exchange
  copy), then ``stage`` (copy the backup next to the server, manifest verified) and
  ``restore_db`` (every row replaced in one transaction), as a restore or mirror runs them.

The ratio is ours (backup + stage + restore_db) over the baseline; the parts are reported
too. Afterwards the catalog is restored from a backup made before the rows were added,
the backups the bench made are removed and the server's shared "latest" backup is put back
as it was. Prints JSON, writes bench/results/backup_restore.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from lab_common import lab_targets, loadavg, report, timed

from fleet.ops.backup import backup_args
from fleet.ops.core import stamp

#: A value for every column of interactive_file (the model, migrations 0001-0002): the
#: INSERT names the ones the deployed schema has (marked_bad came with 0002).
VALUES = {
    "name": "CONCAT('hst_acs_darkfile_bench', LPAD(seq, 7, '0'), '.fits')",
    "uploaded_as": "''", "observatory": "'hst'", "instrument": "'acs'",
    "filekind": "'darkfile'", "type": "'reference'", "state": "'archived'", "rejected": "0",
    "blacklisted": "0", "marked_bad": "0", "size": "1000", "sha1sum": "SHA1(seq)",
    "description": "REPEAT('d', 100)", "comment": "''", "aperture": "'none'",
    "pedigree": "'GROUND'", "useafter_date": "'2020-01-01 00:00:00'",
    "activation_date": "NULL", "delivery_date": "NOW()", "deliverer_user": "'bench'",
    "deliverer_email": "''", "creator_name": "''", "derived_from": "'none'",
    "replaced_by_filename": "''", "change_level": "'SEVERE'", "reference_file_type": "''",
    "history": "''", "modified": "NOW()",
}
COLUMNS = ("SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() "
           "AND table_name = 'interactive_file' ORDER BY ordinal_position;")


def insert_sql(columns: list[str], n: int) -> str:
    unknown = [c for c in columns if c != "id" and c not in VALUES]
    if unknown:
        raise SystemExit(f"interactive_file has columns the bench does not know: {unknown}")
    use = [c for c in columns if c in VALUES]
    return (f"INSERT INTO interactive_file ({', '.join(use)}) SELECT "  # noqa: S608 - constants
            f"{', '.join(VALUES[c] for c in use)} FROM seq_1_to_{n};")


COUNT = "SELECT COUNT(*) FROM interactive_file;"
BENCH_DIR = "bench-backup-restore"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--server", default="hst-test")
    args = parser.parse_args()

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    t = lab_targets(args.server)[args.server]
    p = t.paths
    cnf = p.my_cnf
    mysql = f"mysql --defaults-file={cnf}"

    def sql(text: str) -> str:  # on the command line: remote.sh's stdin goes at ~100 bytes/s
        return t.remote.sh(f"{mysql} -N -B -e {shlex.quote(text)}").stdout.strip()

    facts = t.facts()
    if facts["port_mode"] != "normal" or facts["unfinished"]:
        raise SystemExit(f"{t.name} is not idle: {facts['port_mode']}, {facts['unfinished']}")
    seeded_rows = int(sql(COUNT))
    dated_before = set(facts["backups"])
    exchange = p.exchange()
    saved = f"{exchange}.bench-saved"
    work = f"{p.server_dir}/{BENCH_DIR}"
    stage_dir = f"{work}/stage"
    load_before = loadavg()
    # A clean starting point to come back to, and the shared latest copy set aside.
    t.remote.sh(f"rm -rf {saved} && if [ -e {exchange} ]; then cp -a {exchange} {saved}; fi; "
                f"mkdir -p {work}")
    before = t.agent("backup", **backup_args(t, stamp(), keep=50))
    out: dict = {}
    try:
        columns = sql(COLUMNS).split()
        sql(insert_sql(columns, args.rows))
        rows = int(sql(COUNT))
        db = t.remote.sh(f"sed -n 's/^database *= *//p' {cnf}").stdout.strip().strip('"')
        echo(f"{t.name}: {rows} catalog rows in {db}")
        # Baseline: bare mysqldump, then mysql loads it (same database, same rows). Not a
        # pipe: loading into the database being dumped deadlocks (DROP TABLE waits for the
        # dump's metadata lock, the dump waits on the full pipe) until the server drops it.
        bare_sql = f"{work}/bare.sql"
        bare_dump, _ = timed(t.remote.sh, f"mysqldump --defaults-file={cnf} --single-transaction "
                             f"{shlex.quote(db)} > {bare_sql}")
        bare_load, _ = timed(t.remote.sh, f"{mysql} {shlex.quote(db)} < {bare_sql}")
        bare = bare_dump + bare_load
        t.remote.sh(f"rm -f {bare_sql}")
        after_bare = int(sql(COUNT))
        # Ours: the backup, staging it and the transactional restore.
        ours_backup, backup = timed(t.agent, "backup", **backup_args(t, stamp(), keep=50))
        ours_stage, _ = timed(t.agent, "stage", source=exchange, staging=stage_dir,
                              refresh=True)
        ours_restore, restored = timed(t.agent, "restore_db", my_cnf=cnf, staging=stage_dir)
        after = int(sql(COUNT))
        ours = ours_backup + ours_stage + ours_restore
        # What the three agent calls spent sending their JSON arguments over stdin (fabric
        # feeds a remote command's stdin one byte per 10 ms): the same payloads, to `cat`.
        payloads = [backup_args(t, stamp(), keep=50),
                    {"source": exchange, "staging": stage_dir, "refresh": True},
                    {"my_cnf": cnf, "staging": stage_dir}]
        stdin_s, _ = timed(lambda: [t.remote.sh("cat > /dev/null", stdin=json.dumps(a))
                                    for a in payloads])
        out = {
            "benchmark": "backup + restore of the catalog vs bare mysqldump > file; mysql < file",
            "server": t.name, "rows": rows, "bench_rows": args.rows,
            "schema_has_marked_bad": "marked_bad" in columns,
            "rows_after_bare": after_bare, "rows_after_restore": after,
            "data_sql_bytes": int(t.remote.sh(
                f"stat -c %s {shlex.quote(backup['path'])}/data.sql").stdout),
            "baseline_mysqldump_s": round(bare_dump, 2),
            "baseline_mysql_load_s": round(bare_load, 2),
            "baseline_s": round(bare, 2),
            "ours_backup_s": round(ours_backup, 2), "ours_stage_s": round(ours_stage, 2),
            "ours_restore_db_s": round(ours_restore, 2),
            "ours_restore_db_inside_s": restored.get("seconds"),
            "ours_s": round(ours, 2),
            "of_which_agent_args_over_stdin_s": round(stdin_s, 2),
            "agent_args_bytes": sum(len(json.dumps(a)) for a in payloads),
            "ratio": round(ours / bare, 2),
            "ratio_without_stage": round((ours_backup + ours_restore) / bare, 2),
            "ratio_without_agent_args_over_stdin": round((ours - stdin_s) / bare, 2),
            "goal": "<= 1.2", "pass": ours / bare <= 1.2,
            "loadavg_before": load_before, "loadavg_after": loadavg(),
        }
        out["summary"] = (f"backup {ours_backup:.2f}s + stage {ours_stage:.2f}s + restore "
                          f"{ours_restore:.2f}s = {ours:.2f}s vs mysqldump + mysql {bare:.2f}s "
                          f"for {rows} rows: {out['ratio']}x (goal <= 1.2)")
        if after != rows or after_bare != rows:
            raise SystemExit(f"row counts differ: {rows} added, {after_bare} after the "
                             f"baseline, {after} after our restore")
    finally:
        # Back to the catalog before the bench, its backups removed, the latest copy back.
        t.agent("stage", source=before["path"], staging=stage_dir, refresh=True)
        t.agent("restore_db", my_cnf=cnf, staging=stage_dir)
        sql("ALTER TABLE interactive_file AUTO_INCREMENT = 1;")
        made = sorted(set(t.facts()["backups"]) - dated_before)
        t.remote.sh(" && ".join(
            [f"rm -rf {work}", f"rm -rf {exchange}",
             f"if [ -e {saved} ]; then mv {saved} {exchange}; fi"]
            + [f"rm -rf {p.dated_backups}/{s}" for s in made]))
        final = int(sql(COUNT))
        if final != seeded_rows:
            echo(f"WARNING: {t.name} has {final} catalog rows, {seeded_rows} before the bench")
        t.close()
    report("backup_restore", out)


if __name__ == "__main__":
    main()
