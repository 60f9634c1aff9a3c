"""The server-side half of the operations: one stdlib-only script, copied to the server.

Fabric copies this file to ``${CRDS}/server/ops/agent.py`` and runs it as root with
``sudo python3 agent.py <command>``, the command's arguments as JSON on stdin and its
result as one JSON object on stdout. Each command is one step of a plan in
fleet.ops (backup, stage, restore the database, restore the files, quarantine...),
so a step costs one SSH round trip and the file work happens next to the files.

Secrets: mysqldump and mysql only ever get ``--defaults-file`` (the server's my.cnf);
no password is on a command line or in the output.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

MAPPING_EXT = (".pmap", ".imap", ".rmap")
MANIFEST = "MANIFEST.sha1"
INFO = "backup.json"
STATE = "ops_state.json"


class AgentError(RuntimeError):
    """A step that cannot go on; the message says what to do."""


# ------------------------------------------------------------------ helpers


def sha1sum(path: Path) -> str:
    digest = hashlib.sha1()  # noqa: S324 - CRDS identifies files by sha1
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    if done.returncode:
        raise AgentError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return done


def chown_tree(path: Path, owner: str, group: str) -> None:
    if os.geteuid() == 0:
        run(["chown", "-R", f"{owner}:{group}", str(path)])


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def write_manifest(root: Path) -> int:
    lines = []
    for path in files_under(root):
        rel = path.relative_to(root).as_posix()
        if rel == MANIFEST:
            continue
        lines.append(f"{sha1sum(path)}  {rel}\n")
    (root / MANIFEST).write_text("".join(lines))
    return len(lines)


def verify_manifest(root: Path) -> int:
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise AgentError(f"{root} has no {MANIFEST}: not a complete backup; make a new one "
                         "with `invoke backup --server <src>`")
    count = 0
    for line in manifest.read_text().splitlines():
        digest, rel = line.split("  ", 1)
        path = root / rel
        if not path.is_file() or sha1sum(path) != digest:
            raise AgentError(f"backup {root} is damaged: {rel} does not match its manifest; "
                             "make a new one with `invoke backup --server <src>`")
        count += 1
    return count


def copy_tree(src: Path, dst: Path, *, skip=lambda p: False) -> list[str]:
    """Copy regular files from src into dst (fresh), returning the skipped relative paths."""
    skipped = []
    dst.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        return skipped
    for path in files_under(src):
        rel = path.relative_to(src)
        if skip(path):
            skipped.append(rel.as_posix())
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return skipped


def is_reference(path: Path) -> bool:
    name = path.name
    return not name.endswith(MAPPING_EXT) and not name.endswith(".cat")


# ------------------------------------------------------------------ database

DUMP_OPTS = ["--single-transaction", "--quick", "--skip-lock-tables", "--no-tablespaces",
             "--skip-comments", "--skip-dump-date"]


def db_name(defaults_file: str) -> str:
    text = Path(defaults_file).read_text()
    match = re.search(r"^\s*database\s*=\s*(\S+)", text, re.M)
    if not match:
        raise AgentError(f"{defaults_file} names no database")
    return match.group(1).strip('"')


def mysql(defaults_file: str, sql: str) -> str:
    done = run(["mysql", f"--defaults-file={defaults_file}", "-N", "-B", "-e", sql])
    return done.stdout


_NOISE = re.compile(r"( AUTO_INCREMENT=\d+)|(^/\*!.*\*/;$)|(^--.*$)", re.M)


def normalized_schema(text: str) -> str:
    return "\n".join(line for line in _NOISE.sub(
        lambda m: "" if m.group(1) else "", text).splitlines() if line.strip())


def dump_schema(defaults_file: str) -> str:
    name = db_name(defaults_file)
    return run(["mysqldump", f"--defaults-file={defaults_file}", *DUMP_OPTS, "--no-data",
                "--skip-add-drop-table", name]).stdout


def dump_database(defaults_file: str, out: Path) -> dict:
    name = db_name(defaults_file)
    (out / "schema.sql").write_text(dump_schema(defaults_file))
    with open(out / "data.sql", "w") as handle:
        done = subprocess.run(
            ["mysqldump", f"--defaults-file={defaults_file}", *DUMP_OPTS, "--no-create-info",
             "--skip-add-locks", "--skip-disable-keys", "--skip-triggers", name],
            stdout=handle, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        raise AgentError(f"mysqldump failed: {done.stderr.strip()[-800:]}")
    counts = {}
    for line in mysql(defaults_file, "SELECT table_name, table_rows FROM "
                      "information_schema.tables WHERE table_schema = DATABASE()").splitlines():
        table, rows = line.split("\t")
        counts[table] = int(rows) if rows.isdigit() else 0
    return {"database": name, "tables": len(counts)}


def restore_database(defaults_file: str, backup: Path) -> dict:
    """Replace every row in one transaction: all of the backup's rows, or none."""
    have = normalized_schema(dump_schema(defaults_file))
    want = normalized_schema((backup / "schema.sql").read_text())
    if have != want:
        raise AgentError(
            "the backup's database schema differs from this server's (another app version or "
            "migrations); nothing was changed. Deploy the backup's app version here first "
            f"(`invoke deploy --server <dst> --version <v>`, see {backup / INFO}), then rerun")
    names = [line.split("\t")[0] for line in mysql(
        defaults_file, "SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'").splitlines()]
    deletes = "".join(f"DELETE FROM `{t}`;\n" for t in names)  # noqa: S608 - table names
    head = ("SET autocommit=0;\nSET foreign_key_checks=0;\nSET unique_checks=0;\n"
            "START TRANSACTION;\n" + deletes)
    started = time.monotonic()
    proc = subprocess.Popen(["mysql", f"--defaults-file={defaults_file}", "-B"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        proc.stdin.write(head.encode())
        with open(backup / "data.sql", "rb") as handle:
            shutil.copyfileobj(handle, proc.stdin, 1 << 20)
        proc.stdin.write(b"\nCOMMIT;\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.wait():
        raise AgentError(f"loading the backup failed and was rolled back (nothing changed): "
                         f"{err.strip()[-800:]}")
    return {"tables": len(names), "seconds": round(time.monotonic() - started, 2)}


# ------------------------------------------------------------------ commands


def app_version(freeze: str) -> str:
    """The app's version in `pip freeze` output: "crds_server==0.1.0", or
    "crds_server @ file:///.../crds_server-0.1.0-py3-none-any.whl" (the roles install the
    wheel from a path); "" when the app is not there."""
    found = re.search(r"(?im)^crds[-_]server(?:==|\s*@\s*\S*/crds_server-)([^-\s]+)", freeze)
    return found.group(1) if found else ""


def cmd_backup(a: dict) -> dict:
    """Dump, copy the small trees, list packages, manifest; dated copy and exchange copy."""
    obs, cache, files = a["observatory"], Path(a["file_cache"]), Path(a["server_files"])
    dated_root, exchange = Path(a["dated_root"]), Path(a["exchange"])
    out = dated_root / a["stamp"]
    if out.exists():
        raise AgentError(f"{out} exists already; wait a second and rerun")
    tmp = dated_root / f".{a['stamp']}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    os.chmod(dated_root, 0o700)
    db = dump_database(a["my_cnf"], tmp)
    copy_tree(files / "catalogs", tmp / "files" / "catalogs")
    links = copy_tree(files / "deliveries", tmp / "files" / "deliveries", skip=is_reference)
    (tmp / "files" / "deliveries.links").write_text("".join(f"{r}\n" for r in links))
    copy_tree(cache / "mappings" / obs, tmp / "files" / "mappings" / obs)
    copy_tree(cache / "config" / obs, tmp / "files" / "config" / obs)
    (tmp / "packages").mkdir()
    pip = Path(a["stack"]) / "bin" / "pip"
    freeze = (run([str(pip), "freeze", "--disable-pip-version-check"]).stdout
              if pip.exists() else "")
    (tmp / "packages" / "pip-freeze.txt").write_text(freeze)
    (tmp / "packages" / "dpkg-l.txt").write_text(run(["dpkg", "-l"]).stdout)
    version = app_version(freeze)
    info = {"server": a["server"], "hostname": a["hostname"], "observatory": obs,
            "stamp": a["stamp"], "app_version": version, **db,
            "mappings": len(files_under(tmp / "files" / "mappings")),
            "deliveries_links": len(links)}
    (tmp / INFO).write_text(json.dumps(info, indent=1) + "\n")
    count = write_manifest(tmp)
    chown_tree(tmp, a["owner"], a["group"])
    for path in [tmp, *tmp.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    tmp.rename(out)
    # The shared, undated latest copy: built beside it, then swapped in (not for a safety
    # copy, which is this server's own: exchange "").
    if a["exchange"]:
        exchange.parent.mkdir(parents=True, exist_ok=True)
        new = exchange.with_name(exchange.name + ".new")
        old = exchange.with_name(exchange.name + ".old")
        shutil.rmtree(new, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        shutil.copytree(out, new, copy_function=shutil.copy2)
        if exchange.exists():
            exchange.rename(old)
        new.rename(exchange)
        shutil.rmtree(old, ignore_errors=True)
    # Keep the last N dated backups.
    dated = sorted(p for p in dated_root.iterdir()
                   if p.is_dir() and re.fullmatch(r"\d{8}T\d{6}", p.name))
    removed = [p.name for p in dated[:-int(a["keep"])]] if int(a["keep"]) > 0 else []
    for name in removed:
        shutil.rmtree(dated_root / name)
    size = sum(p.stat().st_size for p in files_under(out))
    return {**info, "path": str(out), "exchange": str(exchange) if a["exchange"] else None,
            "files": count,
            "bytes": size, "removed": removed}


def cmd_stage(a: dict) -> dict:
    """Copy a backup (the exchange's latest or a dated one) to the staging folder, verified."""
    source, staging = Path(a["source"]), Path(a["staging"])
    if not (source / MANIFEST).is_file():
        raise AgentError(f"no backup at {source}; make one with `invoke backup --server "
                         f"{a.get('src_name', '<src>')}`")
    if (staging / MANIFEST).is_file() and (staging / MANIFEST).read_bytes() == (
            source / MANIFEST).read_bytes() and not a.get("refresh"):
        count = verify_manifest(staging)
    else:
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, staging, copy_function=shutil.copy2)
        count = verify_manifest(staging)
    info = json.loads((staging / INFO).read_text())
    return {"staged": str(staging), "files": count, "backup": info}


def cmd_check_schema(a: dict) -> dict:
    have = normalized_schema(dump_schema(a["my_cnf"]))
    want = normalized_schema((Path(a["staging"]) / "schema.sql").read_text())
    return {"same": have == want}


def cmd_restore_db(a: dict) -> dict:
    return restore_database(a["my_cnf"], Path(a["staging"]))


def _quarantine(path: Path, root: Path, qdir: Path) -> str:
    rel = path.relative_to(root)
    target = qdir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, target)  # the quarantine may be on another file system than the cache
    return rel.as_posix()


def _replace_tree(backup: Path, live: Path, root: Path, qdir: Path, *, keep=lambda p: False):
    """Make ``live`` hold exactly the backup's files; extra files go to quarantine."""
    moved = []
    wanted = {p.relative_to(backup).as_posix(): p for p in files_under(backup)} if (
        backup.is_dir()) else {}
    live.mkdir(parents=True, exist_ok=True)
    for path in files_under(live):
        rel = path.relative_to(live).as_posix()
        if rel not in wanted and not keep(path):
            moved.append(_quarantine(path, root, qdir))
    for rel, src in wanted.items():
        target = live / rel
        if target.is_file() and target.stat().st_size == src.stat().st_size and (
                sha1sum(target) == sha1sum(src)):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.restore")
        shutil.copy2(src, tmp)
        os.replace(tmp, target)
    return moved


def cmd_restore_files(a: dict) -> dict:
    """Catalogs, deliveries (not their references), config from the staged backup.

    Mappings are copied in (missing or different ones); extra mappings and references are
    orphans, found afterwards by check_store and moved by `quarantine`.
    """
    staging, obs = Path(a["staging"]) / "files", a["observatory"]
    cache, files, qdir = Path(a["file_cache"]), Path(a["server_files"]), Path(a["quarantine"])
    links = set((staging / "deliveries.links").read_text().split()) if (
        staging / "deliveries.links").is_file() else set()
    moved = []
    moved += _replace_tree(staging / "catalogs", files / "catalogs", files.parent, qdir)
    moved += _replace_tree(staging / "deliveries", files / "deliveries", files.parent, qdir,
                           keep=lambda p: p.relative_to(files / "deliveries").as_posix() in links)
    moved += _replace_tree(staging / "config" / obs, cache / "config" / obs, cache.parent, qdir)
    copied = 0
    for src in files_under(staging / "mappings" / obs):
        target = cache / "mappings" / obs / src.name
        if target.is_file() and sha1sum(target) == sha1sum(src):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.restore")
        shutil.copy2(src, tmp)
        os.replace(tmp, target)
        copied += 1
    chown_tree(files, a["owner"], a["group"])
    chown_tree(cache / "mappings" / obs, a["owner"], a["group"])
    chown_tree(cache / "config" / obs, a["owner"], a["group"])
    return {"quarantined": moved, "mappings_copied": copied}


def cmd_relink_deliveries(a: dict) -> dict:
    """Hard-link delivered references back to their cache copy (they are never in a backup)."""
    staging, obs = Path(a["staging"]) / "files", a["observatory"]
    cache, files = Path(a["file_cache"]), Path(a["server_files"])
    listing = staging / "deliveries.links"
    linked, missing = 0, []
    for rel in (listing.read_text().split() if listing.is_file() else []):
        target = files / "deliveries" / rel
        source = cache / "references" / obs / Path(rel).name
        if target.exists():
            continue
        if not source.is_file():
            missing.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)
        linked += 1
    # A delivery's .cat list is a hard link to its permanent copy in catalogs/; the backup
    # holds both as files, so link them again where they are the same list.
    cats = 0
    for cat in sorted((files / "deliveries").rglob("*.cat")):
        permanent = files / "catalogs" / cat.name
        if (not permanent.is_file() or os.path.samefile(cat, permanent)
                or sha1sum(cat) != sha1sum(permanent)):
            continue
        tmp = cat.with_name(f".{cat.name}.link")
        tmp.unlink(missing_ok=True)
        os.link(permanent, tmp)
        os.replace(tmp, cat)
        cats += 1
    return {"linked": linked, "catalogs_linked": cats, "missing": missing}


def cmd_quarantine(a: dict) -> dict:
    """Move the given cache paths (orphans: relative to the file cache) to quarantine."""
    cache, qdir = Path(a["file_cache"]), Path(a["quarantine"])
    moved = []
    for rel in a["paths"]:
        path = cache / rel
        if path.is_file():
            moved.append(_quarantine(path, cache.parent, qdir))
    if moved:
        chown_tree(qdir, a["owner"], a["group"])
    return {"quarantined": moved}


def cmd_remove(a: dict) -> dict:
    """Remove named cache files (size/sha1 mismatches) so the sync fetches them again."""
    cache = Path(a["file_cache"])
    gone = []
    for rel in a["paths"]:
        path = cache / rel
        if path.is_file():
            path.unlink()
            gone.append(rel)
    return {"removed": gone}


def cmd_adopt(a: dict) -> dict:
    """Move files streamed into the staging folder (paths relative to the file cache,
    ``references/<obs>/<name>``) into the cache, each only if its size and sha1 are the
    catalog's (read from this server's database); report the others by name."""
    staging, cache = Path(a["staging"]), Path(a["file_cache"])
    refused: dict[str, str] = {}
    rels: dict[str, str] = {}  # name -> relative path; only plain names reach the SQL
    for rel in a["names"]:
        if re.fullmatch(r"(mappings|references)/[a-z]{2,9}/[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}",
                        rel):
            rels[rel.rsplit("/", 1)[1]] = rel
        else:
            refused[rel] = "not a file of the cache"
    want: dict[str, tuple[int, str]] = {}
    names = sorted(rels)
    for n in range(0, len(names), 500):
        batch = ",".join(f"'{x}'" for x in names[n:n + 500])
        sql = f"SELECT name, size, sha1sum FROM interactive_file WHERE name IN ({batch})"  # noqa: S608
        for line in mysql(a["my_cnf"], sql).splitlines():
            name, size, sha1 = line.split("\t")
            want[name] = (int(size), sha1)
    adopted = 0
    for name, rel in rels.items():
        path, target = staging / rel, cache / rel
        if name not in want:
            refused[name] = "not in the catalog"
        elif not path.is_file():
            refused[name] = "not received (the source lacks it)"
        elif path.stat().st_size != want[name][0]:
            refused[name] = f"{path.stat().st_size} bytes, the catalog says {want[name][0]}"
        elif sha1sum(path) != want[name][1]:
            refused[name] = "its sha1 is not the catalog's"
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)  # a quarantine may be on another file system
            if os.geteuid() == 0:
                shutil.chown(target, a["owner"], a["group"])
            os.chmod(target, 0o640)
            adopted += 1
    if not a.get("keep_staging"):
        shutil.rmtree(staging, ignore_errors=True)
    return {"adopted": adopted, "refused": refused}


def cmd_state(a: dict) -> dict:
    """Read, write or clear the operation state file on the server."""
    path = Path(a["path"])
    if a.get("clear"):
        path.unlink(missing_ok=True)
        return {"state": None}
    if "write" in a:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(a["write"], indent=1) + "\n")
        os.replace(tmp, path)
        return {"state": a["write"]}
    return {"state": json.loads(path.read_text()) if path.is_file() else None}


def cmd_facts(a: dict) -> dict:
    """Port mode, disk use of the trees, the last backup, the app version, the state file."""
    ports = Path(a["ports_conf"])
    text = ports.read_text() if ports.is_file() else ""
    match = re.search(r"^Listen\s+(\d+)", text, re.M)
    port = int(match.group(1)) if match else None
    mode = ("normal" if port == int(a["port"]) else "backup" if port == int(a["backup_port"])
            else "unknown")
    disk = {}  # free and total bytes of each tree's file system (statvfs: instant)
    for key, path in a["trees"].items():
        try:
            st = os.statvfs(path)
            disk[key] = {"free": st.f_bavail * st.f_frsize, "total": st.f_blocks * st.f_frsize,
                         "fs": os.stat(path).st_dev}
        except OSError:
            disk[key] = None
    dated = Path(a["dated_root"])
    stamps = sorted(p.name for p in dated.iterdir() if re.fullmatch(r"\d{8}T\d{6}", p.name)) if (
        dated.is_dir()) else []
    # the last good backup: the newest one that is complete (its manifest was written last)
    complete = [s for s in stamps if (dated / s / MANIFEST).is_file()]
    last = complete[-1] if complete else None
    age = None
    if last:
        when = dt.datetime.strptime(last, "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
        age = int((dt.datetime.now(dt.UTC) - when).total_seconds())
    active = subprocess.run(["systemctl", "is-active", a["service"]], capture_output=True,
                            text=True, check=False).stdout.strip()
    version_file = Path(a["stack"]) / ".app-version"
    release = Path(a["stack"]).resolve().name if Path(a["stack"]).exists() else None
    state = Path(a["state"])
    return {"port": port, "port_mode": mode, "disk": disk, "backups": stamps,
            "last_backup": last, "last_backup_age_s": age, "service": active,
            "release": release,
            "app_version": version_file.read_text().strip() if version_file.is_file() else None,
            "unfinished": json.loads(state.read_text()) if state.is_file() else None}


STAMP_RE = re.compile(r"\d{8}T\d{6}")


def _describe_backup(root: Path, now: dt.datetime, stamp_: str | None = None) -> dict:
    """One backup folder: stamp, age, size, app version and whether its manifest verifies.
    A dated backup is named by its folder (what `--from` takes); the shared latest copy by
    the stamp it records."""
    info_file = root / INFO
    try:
        info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    except ValueError:
        info = {}
    stamp_ = stamp_ or info.get("stamp") or root.name
    age = None
    if STAMP_RE.fullmatch(stamp_ or ""):
        when = dt.datetime.strptime(stamp_, "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
        age = int((now - when).total_seconds())
    try:
        verify_manifest(root)
        verified, problem = True, None
    except AgentError as exc:
        verified, problem = False, str(exc)
    return {"stamp": stamp_, "path": str(root), "age_s": age,
            "bytes": sum(p.stat().st_size for p in files_under(root)),
            "app_version": info.get("app_version") or None, "server": info.get("server"),
            "verified": verified, "problem": problem}


def cmd_backups(a: dict) -> dict:
    """The dated backups (oldest first) and the shared latest copy, each verified."""
    now = dt.datetime.now(dt.UTC)
    dated = Path(a["dated_root"])
    rows = [_describe_backup(p, now, p.name) for p in sorted(dated.iterdir())
            if p.is_dir() and STAMP_RE.fullmatch(p.name)] if dated.is_dir() else []
    exchange = Path(a["exchange"]) if a.get("exchange") else None
    latest = _describe_backup(exchange, now) if exchange and exchange.is_dir() else None
    return {"dated": rows, "latest": latest}


def cmd_logs(a: dict) -> dict:
    """The server's log folder (name, size, last change) and the last lines of one log."""
    root = Path(a["root"])
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    listing = [{"name": p.relative_to(root).as_posix(), "bytes": p.stat().st_size,
                "modified": dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC)
                .isoformat(timespec="seconds")} for p in files]
    tail = None
    name = a.get("name")
    if name:
        known = {row["name"] for row in listing}
        if name not in known:
            raise AgentError(f"no log {name!r} in {root}; the logs there: "
                             + (", ".join(sorted(known)) or "none"))
        lines = int(a.get("lines", 50))
        with open(root / name, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 200 * max(lines, 1)))
            text = handle.read().decode("utf-8", "replace")
        tail = text.splitlines()[-lines:] if lines > 0 else []
    return {"root": str(root), "logs": listing, "name": name, "tail": tail}


def cmd_rpc(a: dict) -> dict:
    """A JSON-RPC call to a server (this one on localhost, or another), verified with the CA."""
    import ssl
    import urllib.request

    body = json.dumps({"jsonrpc": "1.0", "method": a["method"], "params": a.get("params", []),
                       "id": 1}).encode()
    context = ssl.create_default_context(cafile=a.get("cafile") or None)
    last = ""
    for attempt in range(int(a.get("tries", 1))):
        if attempt:
            time.sleep(float(a.get("delay", 2)))
        try:
            request = urllib.request.Request(  # noqa: S310 - an https URL from fleet.ops
                a["url"], data=body, headers={"Content-Type": "application/json-rpc"})
            with urllib.request.urlopen(  # noqa: S310
                    request, timeout=20, context=context) as answer:
                return {"answer": json.loads(answer.read())}
        except (OSError, ValueError) as exc:
            last = str(exc)
    raise AgentError(f"{a['url']} does not answer: {last}")


def cmd_oplog(a: dict) -> dict:
    path = Path(a["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(a["line"].rstrip("\n") + "\n")
    chown_tree(path, a["owner"], a["group"])
    return {"logged": str(path)}


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in COMMANDS:
        print(json.dumps({"error": f"usage: agent.py {{{','.join(sorted(COMMANDS))}}}"}))
        return 2
    try:
        result = COMMANDS[argv[1]](json.load(sys.stdin))
    except AgentError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    except OSError as exc:
        print(json.dumps({"error": f"{argv[1]}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
