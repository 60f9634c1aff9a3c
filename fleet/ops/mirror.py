"""`invoke mirror --src A --dst B` and `invoke restore --server S` (= S mirrored to itself).

The old "Server Mirroring" and "Restoring Nightly Backups" routines. dst moves to its
hidden backup port first and stays there until it is consistent again: src's latest
backup is staged on dst (manifest verified), its rows replace dst's in one transaction,
catalogs/deliveries/mappings/config are put in place, the references dst lacks are
fetched from src's server by the real crds client running on dst (sha1-checked), orphans
(files the restored catalog does not know) go to a dated quarantine folder, httpd and
memcached restart, the health check passes on the backup port, and only then dst returns
to its normal port.

Progress is kept in a state file on dst (``${CRDS}/server/run/ops_state.json``): a run
that was killed leaves dst on the backup port, and the next run sees the unfinished
state, keeps dst on the backup port and resumes. Every step is idempotent.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import PurePosixPath

from fleet.ops.agent import MAPPING_EXT
from fleet.ops.core import OpsError, Plan, stamp
from fleet.ops.remote import stream
from fleet.ops.service import Target
from fleet.policy import check_mirror


def client_check_command(src: Target, dst: Target, context: str) -> tuple[str, dict]:
    """The real crds client on dst, checking dst's cache for ``context`` against src's
    server: every file there, of the catalogued size and state (and fetching any that is
    not, which a consistent mirror never needs).

    ``python -m crds.sync`` is what the ``crds sync`` wrapper script runs in a second
    interpreter after importing crds itself; calling the module saves that start-up.
    """
    env = {"CRDS_SERVER_URL": f"https://{src.paths.fqdn}:{src.paths.port}",
           "CRDS_PATH": dst.paths.file_cache, "CRDS_OBSERVATORY": dst.paths.observatory,
           "REQUESTS_CA_BUNDLE": dst.paths.ca_cert, "SSL_CERT_FILE": dst.paths.ca_cert,
           "CRDS_MODE": "remote", "PATH": f"{dst.paths.stack}/bin:/usr/bin:/bin"}
    cmd = (f"umask 027 && {dst.paths.stack}/bin/python -m crds.sync --contexts "
           f"{shlex.quote(context)} --fetch-references --check-files")
    return cmd, env


def cache_path(target: Target, name: str) -> str:
    """A catalogued file's path relative to the file cache (flat references)."""
    sub = "mappings" if name.endswith(MAPPING_EXT) else "references"
    return f"{sub}/{target.paths.observatory}/{name}"


class Mirror:
    """The plan of one mirror (or restore) and the facts it gathers as it runs."""

    def __init__(self, src: Target, dst: Target, *, from_stamp: str | None = None,
                 force: bool = False, safety: bool = True,
                 echo: Callable[[str], None] = print):
        self.direction = check_mirror(src.host, dst.host, force=force)
        self.src, self.dst, self.echo = src, dst, echo
        self.restore = self.direction.is_restore
        self.from_stamp = from_stamp
        if from_stamp and not self.restore:
            raise OpsError("--from <stamp> names one of the server's own dated backups; "
                           "it only applies to a restore")
        self.operation = "restore" if self.restore else "mirror"
        self.report: dict = {"operation": self.operation, "src": src.name, "dst": dst.name,
                             "quarantined": [], "synced": [], "missing": [], "problems": {}}
        self.state: dict = {}
        self.safety = safety  # a dated backup of dst as it is, first: what --abort brings back
        self.previous: dict | None = None  # an unfinished run's state, read by preflight()

    # -------------------------------------------------------------- facts

    @property
    def command(self) -> str:
        """The command that runs (and resumes) this operation."""
        if self.restore:
            return (f"invoke restore --server {self.dst.name}"
                    + (f" --from {self.from_stamp}" if self.from_stamp else ""))
        return f"invoke mirror --src {self.src.name} --dst {self.dst.name}"

    @property
    def source_dir(self) -> str:
        if self.from_stamp:
            return f"{self.dst.paths.dated_backups}/{self.from_stamp}"
        return self.dst.paths.exchange(self.src.name)

    @property
    def quarantine(self) -> str:
        return self.dst.paths.quarantine(self.state.get("stamp") or "<stamp>")

    def _common(self) -> dict:
        p = self.dst.paths
        return {"staging": p.staging, "observatory": p.observatory, "file_cache": p.file_cache,
                "server_files": p.server_files, "owner": p.crds_user, "group": p.crds_group}

    # -------------------------------------------------------------- state

    def load_state(self) -> dict | None:
        return self.dst.agent("state", path=self.dst.paths.state_file)["state"]

    def save_state(self, **changes) -> None:
        self.state.update(changes)
        self.dst.agent("state", path=self.dst.paths.state_file, write=self.state)

    def preflight(self) -> None:
        """Before anything changes: an unfinished run must be resumed with the arguments it
        began with, and the backup to bring in must be there and verify."""
        self.previous = self.load_state()
        if self.previous:
            recorded = self.previous.get("command") or (
                f"invoke {self.previous.get('operation')} (source {self.previous.get('source')})")
            same = (self.previous.get("operation") == self.operation
                    and self.previous.get("src") == self.src.name
                    and self.previous.get("source") == self.source_dir)
            if not same:
                raise OpsError(
                    f"{self.dst.name} has an unfinished {self.previous.get('operation')} "
                    f"(started {time.ctime(self.previous.get('started', 0))}, source "
                    f"{self.previous.get('source')}); it stays on its backup port and nothing "
                    f"was changed. Resume it with the command it began with: `{recorded}`, or "
                    f"end it with `{recorded} --abort` ({self.dst.name} back on its normal "
                    "port as it was before that run)")
            return
        found = self.dst.agent("backups", dated_root=self.dst.paths.dated_backups,
                               exchange=self.source_dir if not self.from_stamp else "")
        stamps = [b["stamp"] for b in found["dated"]]
        listing = (", ".join(stamps[-10:]) + " (`invoke backups --server "
                   f"{self.dst.name}` shows them)") if stamps else "none"
        if self.from_stamp:
            chosen = next((b for b in found["dated"] if b["stamp"] == self.from_stamp), None)
            if chosen is None:
                raise OpsError(f"{self.dst.name} has no backup {self.from_stamp}; its dated "
                               f"backups are: {listing}. Nothing was changed")
        else:
            chosen = found["latest"]
            if chosen is None:
                raise OpsError(
                    f"no backup of {self.src.name} in {self.source_dir}: make one with "
                    f"`invoke backup --server {self.src.name}`"
                    + (f", or restore a dated one with --from (there are: {listing})"
                       if self.restore else "") + ". Nothing was changed")
        if not chosen["verified"]:
            raise OpsError(f"the backup {chosen['path']} does not verify ({chosen['problem']}); "
                           "nothing was changed")

    def abort(self) -> dict:
        """End an interrupted run: dst back on its normal port as it was before that run
        (its safety backup restored when the run had changed its rows or files)."""
        previous = self.load_state()
        if not previous:
            raise OpsError(f"{self.dst.name} has no unfinished mirror or restore: nothing to "
                           "abort")
        changed_from = self._first_changing_step()
        done = int(previous.get("done", 0))
        log = self.dst.log
        if done < changed_from:
            self.echo(f"  {self.dst.name}: the interrupted {previous.get('operation')} had "
                      "changed nothing yet")
            self.dst.set_port_mode("normal")
            self.dst.agent("state", path=self.dst.paths.state_file, clear=True)
            log.write(f"{previous.get('operation')} aborted before any change; normal port")
            return {"aborted": previous, "restored": None}
        safety = previous.get("safety")
        if not safety:
            raise OpsError(f"the interrupted {previous.get('operation')} of {self.dst.name} "
                           "recorded no safety backup to go back to; finish it with "
                           f"`{previous.get('command') or 'the command it began with'}`")
        self.echo(f"  {self.dst.name}: its rows or files had changed; bringing back its "
                  f"safety backup {safety}")
        self.dst.agent("state", path=self.dst.paths.state_file, clear=True)
        back = Mirror(self.dst, self.dst, from_stamp=safety, safety=False, echo=self.echo)
        back.preflight()
        report = back.run()
        log.write(f"{previous.get('operation')} aborted; {self.dst.name} restored from its "
                  f"safety backup {safety}")
        return {"aborted": previous, "restored": safety, "report": report}

    def _first_changing_step(self) -> int:
        """The number of the first step that changes dst's rows or files."""
        for n, step in enumerate(self.plan().steps, 1):
            if step.run == self.step_database:
                return n
        raise AssertionError("a mirror always has a database step")

    def resume_point(self) -> int:
        """0 for a fresh run; the last finished step when an unfinished run is resumed."""
        previous = self.previous if self.previous is not None else self.load_state()
        if not previous:
            self.state = {"operation": self.operation, "src": self.src.name,
                          "dst": self.dst.name, "stamp": stamp(), "source": self.source_dir,
                          "command": self.command, "done": 0, "started": time.time()}
            return 0
        if previous.get("src") != self.src.name or previous.get("operation") != self.operation:
            raise OpsError(
                f"{self.dst.name} has an unfinished {previous.get('operation')} from "
                f"{previous.get('src')} (state in {self.dst.paths.state_file}); it stays on "
                f"its backup port. Finish that one first: `invoke {previous.get('operation')}"
                + (f" --src {previous.get('src')} --dst {self.dst.name}`"
                   if previous.get("operation") == "mirror" else f" --server {self.dst.name}`"))
        self.state = previous
        self.from_stamp = self.from_stamp or None
        self.echo(f"resuming the unfinished {self.operation} of {self.dst.name} "
                  f"(started {time.ctime(previous.get('started', 0))}, "
                  f"{previous.get('done', 0)} steps done); {self.dst.name} stays on its "
                  "backup port")
        self.report["resumed"] = True
        return int(previous.get("done", 0))

    # -------------------------------------------------------------- steps

    def step_state(self):
        self.save_state()

    def step_safety(self):
        """A dated backup of dst as it is now (no shared copy, no pruning): --abort's way
        back once later steps have changed its rows or files."""
        from fleet.ops.backup import backup_args

        when = stamp()
        args = {**backup_args(self.dst, when, keep=0), "exchange": ""}
        out = self.dst.agent("backup", **args)
        self.save_state(safety=when)
        self.echo(f"          {self.dst.name} as it was: {out['path']}")
        return out

    def step_backup_port(self):
        self.dst.set_port_mode("backup")

    def step_stage(self):
        source = self.state.get("source", self.source_dir)
        out = self.dst.agent("stage", source=source, staging=self.dst.paths.staging,
                             src_name=self.src.name)
        began_with = (self.state.get("backup") or {}).get("stamp")
        if began_with and out["backup"].get("stamp") != began_with:
            # A resume must go on with the backup it began with: never a newer one whose
            # rows or files would mix with what the earlier steps already put in place.
            raise OpsError(f"{source} now holds the backup {out['backup'].get('stamp')}, but "
                           f"this {self.operation} began with {began_with}; {self.dst.name} "
                           f"stays on its backup port. Bring back the backup {began_with} "
                           "there, then rerun")
        self.report["backup"] = out["backup"]
        self.save_state(backup=out["backup"])  # a resumed run reports the same backup
        return out

    def step_database(self):
        out = self.dst.agent("restore_db", my_cnf=self.dst.paths.my_cnf,
                             staging=self.dst.paths.staging)
        self.report["database"] = out
        return out

    def step_files(self):
        out = self.dst.agent("restore_files", quarantine=self.quarantine, **self._common())
        self.report["quarantined"] += out["quarantined"]
        self.report["mappings_copied"] = out["mappings_copied"]
        return out

    def step_sync(self):
        store = self.dst.check_store(sha1=False)
        want = sorted(set(store["missing"]) | set(store["size_mismatch"]))
        if store["size_mismatch"]:  # damaged copies go first, so the client fetches them
            self.dst.agent("remove", file_cache=self.dst.paths.file_cache,
                           paths=[cache_path(self.dst, n) for n in store["size_mismatch"]])
        if not want:
            self.echo("          the file cache lacks nothing")
            return {"synced": 0}
        if self.restore:
            back = self.from_quarantine(want)
            self.report["unquarantined"] = back
            want = [n for n in want if n not in back]
            if back:
                self.echo(f"          {len(back)} catalogued files brought back from this "
                          "server's quarantine (sha1 checked against the catalog)")
            if want:
                self.report["missing"] = want
                self.echo(f"          {len(want)} catalogued files are not in the cache and a "
                          "restore has no other server to fetch them from (reported)")
            return {"synced": 0, "unquarantined": len(back)}
        moved = self.transfer(want)
        self.report["synced"] = want
        self.client_check()
        return {"synced": moved}

    def from_quarantine(self, names: list[str]) -> list[str]:
        """The catalogued files this server's earlier runs moved to quarantine (newest run
        first), moved back where the restored catalog knows them, each only with the
        catalog's size and sha1: an abort, or a restore of a later backup, loses no file."""
        d = self.dst.paths
        listing = self.dst.remote.sh(
            f"ls -1d {shlex.quote(d.server_dir)}/quarantine/*/ 2>/dev/null | sort -r || true",
            check=False).stdout.split()
        wanted = {cache_path(self.dst, n): n for n in names}
        back: list[str] = []
        for qdir in listing:
            if not wanted:
                break
            out = self.dst.agent("adopt", staging=f"{qdir.rstrip('/')}/"
                                 f"{PurePosixPath(d.file_cache).name}", names=sorted(wanted),
                                 my_cnf=d.my_cnf, file_cache=d.file_cache, owner=d.crds_user,
                                 group=d.crds_group, keep_staging=True)
            for rel in list(wanted):
                if wanted[rel] not in out["refused"] and rel not in out["refused"]:
                    back.append(wanted.pop(rel))
        return back

    def transfer(self, names: list[str]) -> int:
        """The files dst lacks, streamed from src's cache (tar over the two SSH connections,
        through this machine), then taken into dst's cache one by one, each only with the
        size and sha1 of dst's catalog (src's, restored a step before)."""
        d, s = self.dst.paths, self.src.paths
        rels = [cache_path(self.dst, n) for n in names]
        incoming = f"{d.file_cache}/.mirror-incoming"  # the cache's file system: a rename
        self.echo(f"          streaming {len(rels)} files {s.name} -> {d.name}")
        t0 = time.monotonic()
        carried = stream(
            self.src.remote, f"cd {shlex.quote(s.file_cache)} && while IFS= read -r f; do "
            "[ -f \"$f\" ] && printf '%s\\n' \"$f\"; done | tar -cf - --no-recursion -T -",
            self.dst.remote, f"rm -rf {shlex.quote(incoming)} && mkdir -p {shlex.quote(incoming)}"
            f" && tar -xf - --no-same-owner -C {shlex.quote(incoming)}",
            src_input=("\n".join(rels) + "\n").encode())
        out = self.dst.agent("adopt", staging=incoming, names=rels, my_cnf=d.my_cnf,
                             file_cache=d.file_cache, owner=d.crds_user, group=d.crds_group)
        self.echo(f"          {out['adopted']} files ({carried} bytes) in "
                  f"{time.monotonic() - t0:.1f}s, each sha1 checked against the catalog")
        if out["refused"]:
            names = sorted(out["refused"])
            raise OpsError(f"{len(names)} files from {s.name} could not be taken in: "
                           + "; ".join(f"{n}: {out['refused'][n]}" for n in names[:10])
                           + f". {d.name} stays on its backup port; fix {s.name}'s copies "
                           "(`invoke check`), then rerun to resume")
        return out["adopted"]

    def client_check(self) -> None:
        """The real crds client checks dst's operational context against src's server."""
        info = self.dst.check_store(sha1=False).get("defaults") or {}
        context = info.get("operational")
        if not context:
            return
        t0 = time.monotonic()
        cmd, env = client_check_command(self.src, self.dst, context)
        result = self.dst.remote.sh(cmd, user=self.dst.paths.crds_user, env=env, check=False)
        output = result.stdout + result.stderr
        if result.exited != 0 or " 0 errors" not in output:
            raise OpsError(f"crds sync --check-files of {context} on {self.dst.name} against "
                           f"{self.src.name} failed ({result.exited}); {self.dst.name} stays "
                           f"on its backup port, rerun to resume:\n{output.strip()[-1500:]}")
        self.echo(f"          crds sync --check-files of {context}: 0 errors "
                  f"({time.monotonic() - t0:.1f}s)")

    def step_relink(self):
        out = self.dst.agent("relink_deliveries", **self._common())
        if out["missing"]:
            self.report["problems"]["deliveries_missing"] = out["missing"]
        return out

    def step_orphans(self):
        store = self.dst.check_store(sha1=False)
        if store["orphans"]:
            out = self.dst.agent("quarantine", file_cache=self.dst.paths.file_cache,
                                 quarantine=self.quarantine, paths=store["orphans"],
                                 owner=self.dst.paths.crds_user, group=self.dst.paths.crds_group)
            self.report["quarantined"] += out["quarantined"]
            store = self.dst.check_store(sha1=False)
        problems = {k: store[k] for k in ("missing", "size_mismatch", "orphans") if store[k]}
        if self.restore:
            problems.pop("missing", None)
        # The contexts it will serve must be whole (their mappings all there and loadable).
        broken = {which: store["broken_contexts"][pmap]
                  for which, pmap in store.get("defaults", {}).items()
                  if pmap in store.get("broken_contexts", {})}
        if broken:
            problems["broken_contexts"] = [f"{which}: {why}" for which, why in broken.items()]
        if problems:
            raise OpsError(f"{self.dst.name}'s catalog and file cache still disagree: "
                           f"{ {k: v[:10] for k, v in problems.items()} }; it stays on its "
                           "backup port. Fix the cause, then rerun to resume")
        self.report["files"] = store["files"]
        return store

    def step_restart(self):
        self.dst.systemctl("restart")
        info = self.dst.health(self.dst.paths.backup_port)
        self.report["contexts"] = {"operational": info["operational_context"],
                                   "edit": info["edit_context"]}
        return info

    def step_normal_port(self):
        self.dst.set_port_mode("normal")

    def step_finish(self):
        self.dst.agent("state", path=self.dst.paths.state_file, clear=True)

    def plan(self) -> Plan:
        d, s = self.dst.paths, self.src.paths
        plan = Plan(self.operation, self.dst.name)
        plan.add(f"record the {self.operation} in {d.state_file}", self.step_state)
        if self.safety:
            plan.add(f"back up {d.name} as it is (its safety copy: what --abort brings back)",
                     self.step_safety, f"-> {d.dated_backups}/<stamp>/ (not shared, not pruned)")
        plan.add(f"move {d.name} to its backup port {d.backup_port}", self.step_backup_port)
        plan.add(f"stage the backup {self.source_dir} on {d.name} (manifest sha1 verified)",
                 self.step_stage, f"-> {d.staging}")
        plan.add("replace every database row in one transaction (same schema required)",
                 self.step_database,
                 f"mysql --defaults-file={d.my_cnf} < DELETE all rows + the backup's rows; COMMIT")
        plan.add("put catalogs, deliveries, mappings and config in place; extra files to "
                 "quarantine", self.step_files,
                 f"{d.server_files}/{{catalogs,deliveries}}, {d.file_cache}/{{mappings,config}}"
                 f"/{d.observatory}\nquarantine: {d.server_dir}/quarantine/<stamp>/")
        plan.add(("list catalogued files the cache lacks (restore: report them)" if self.restore
                  else f"bring the files {d.name} lacks from {s.name}; the crds client checks"),
                 self.step_sync,
                 "" if self.restore else
                 f"tar of the missing files over ssh {s.name} -> {d.name} (staging), each "
                 f"taken in with the catalog's size and sha1; then on {d.name} as "
                 f"{d.crds_user}: CRDS_SERVER_URL=https://{s.fqdn}:{s.port} "
                 f"CRDS_PATH={d.file_cache} python -m crds.sync (crds sync) --contexts "
                 "<operational> --fetch-references --check-files")
        plan.add("hard-link delivered references to their cache copy", self.step_relink)
        plan.add("check the store; orphans to quarantine", self.step_orphans,
                 "manage.py check_store --json --no-sha1")
        plan.add("restart memcached and crds-httpd; health check on the backup port",
                 self.step_restart)
        plan.add(f"move {d.name} back to its normal port {d.port}", self.step_normal_port)
        plan.add("clear the state file", self.step_finish)
        if self.restore:
            plan.notes.append("files added since the backup are moved to quarantine, not deleted")
        return plan

    def run(self) -> dict:
        plan = self.plan()
        start = self.resume_point()
        total = len(plan.steps)
        began = time.monotonic()
        log = self.dst.log
        log.write(f"{self.operation} {self.src.name} -> {self.dst.name} "
                  f"{'resumed at step ' + str(start + 1) if start else 'started'} "
                  f"(source {self.state['source']})")
        for n, step in enumerate(plan.steps, 1):
            # On a resume the backup port is re-asserted (never serve while inconsistent) and
            # the backup staged again (verified anew: a backup mended since is the one used).
            if n <= start and step.run not in (self.step_backup_port, self.step_stage):
                self.echo(f"step {n}/{total}: {step.title} (done before)")
                continue
            self.echo(f"step {n}/{total}: {step.title}")
            t0 = time.monotonic()
            try:
                step.run()
            except Exception as exc:
                log.write(f"{self.operation} {self.src.name} -> {self.dst.name} FAILED at step "
                          f"{n}/{total} ({step.title}): {str(exc)[:300]}; stays on the backup "
                          "port, rerun to resume")
                raise
            if step.run not in (self.step_finish,):
                self.save_state(done=max(n, self.state.get("done", 0)))
            self.echo(f"          done in {time.monotonic() - t0:.1f}s")
        self.report["seconds"] = round(time.monotonic() - began, 1)
        self.report.setdefault("backup", self.state.get("backup") or {})
        log.write(f"{self.operation} {self.src.name} -> {self.dst.name} done in "
                  f"{self.report['seconds']}s: backup "
                  f"{self.report.get('backup', {}).get('stamp')}, "
                  f"{len(self.report['synced'])} synced, {len(self.report['quarantined'])} "
                  f"quarantined ({self.quarantine})")
        self.report["quarantine_dir"] = self.quarantine
        return self.report
