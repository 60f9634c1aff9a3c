"""`invoke backup`: the nightly backup of one server.

The database (mysqldump --single-transaction through the server's defaults file: the
schema, then the rows), catalogs, deliveries (their references only as a list of links),
every mapping, the cache's config area and a package listing (pip freeze of the stack,
dpkg -l), with a manifest holding the sha1 of every file. Written to a dated private
folder ``${CRDS}/server/db_backups/<stamp>/`` and swapped into the undated latest location
``${crds_backup_exchange}/<server>/latest`` (the server's own folder of the exchange); the
last N dated backups are kept.
References are never in a backup.
"""

from __future__ import annotations

from fleet.ops.core import Plan, stamp
from fleet.ops.service import Target


def backup_args(target: Target, when: str, keep: int | None = None) -> dict:
    p = target.paths
    return {"server": p.name, "hostname": p.hostname, "observatory": p.observatory,
            "stamp": when, "my_cnf": p.my_cnf, "file_cache": p.file_cache,
            "server_files": p.server_files, "stack": p.stack, "dated_root": p.dated_backups,
            "exchange": p.exchange(), "keep": keep if keep is not None else p.keep_backups,
            "owner": p.crds_user, "group": p.crds_group}


def plan_backup(target: Target, keep: int | None = None, when: str | None = None) -> Plan:
    when = when or stamp()
    p = target.paths
    args = backup_args(target, when, keep)
    result: dict = {}
    plan = Plan("backup", target.name)

    def do_backup():
        result.update(target.agent("backup", **args))
        target.log.write(
            f"backup {when}: {result['files']} files, {result['bytes']} bytes, app "
            f"{result.get('app_version') or '?'} -> {result['path']} and {result['exchange']}"
            + (f"; removed {', '.join(result['removed'])}" if result["removed"] else ""))
        return result

    plan.add("dump the database, copy catalogs/deliveries/mappings/config, list packages, "
             "write the manifest", do_backup,
             f"mysqldump --defaults-file={p.my_cnf} --single-transaction (schema.sql, data.sql)\n"
             f"{p.server_files}/{{catalogs,deliveries}} (delivered references only listed)\n"
             f"{p.file_cache}/mappings/{p.observatory}, {p.file_cache}/config/{p.observatory}\n"
             f"pip freeze ({p.stack}), dpkg -l; MANIFEST.sha1\n"
             f"-> {p.dated_backups}/{when}/ (0700) and {p.exchange()}/ (latest, swapped in)\n"
             f"keep the last {args['keep']} dated backups; references are never backed up")
    plan.result = result  # type: ignore[attr-defined]
    return plan


def list_backups(target: Target) -> dict:
    """The server's dated backups and its shared latest copy (`invoke backups`)."""
    p = target.paths
    return target.agent("backups", dated_root=p.dated_backups, exchange=p.exchange())
