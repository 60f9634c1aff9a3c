"""Mirroring a file cache with 1% of its references changed vs `rsync -a` of the same tree.

    CRDS_LAB_NAME=crdsci CRDS_LAB_BLOCK=7 .venv/bin/python bench/mirror_sync.py \
        [--files 5000] [--min-kib 4] [--max-kib 4096] [--changed-pct 1]

On a converged lab, src = hst-ops and dst = hst-test (a downward mirror):

* setup (not timed): N synthetic HST references (random bytes, sizes log-uniform between
  --min-kib and --max-kib, seeded) are written into src's file cache
  (``references/hst/hst_acs_darkfile_benchNNNNN.fits``) and catalogued with their real size
  and sha1 on both servers (the catalog a mirror's restore_db would have given dst). The
  whole tree is copied to dst once with the same rsync the baseline uses, so both trees
  start identical (contents, sizes, mtimes, owners).
* the change: 1% of the bench references on dst, half deleted (new deliveries on src that
  dst lacks) and half truncated to half their size (damaged copies). References are
  immutable in CRDS, so this is what "changed" means for a file cache.
* ours: ``Mirror.step_sync`` of fleet/ops/mirror.py, as `invoke mirror` runs it (step 6):
  check_store --no-sha1 on dst (catalog vs cache, sizes), the agent removes the damaged
  copies, and the real ``crds sync --check-files --check-sha1sum --repair-files --files``
  runs on dst as crds, fetching from src's HTTPS server (sha1 checked against src's
  catalog). Broken down into check_store / agent / crds sync seconds.
* the same change is applied again, then the baseline: ``rsync -a`` run as root inside the
  dst container, pulling ``references/hst/`` from src over ssh on the lab's podman network
  (``-e ssh``, a throw-away key authorized on src for the bench only, ``sudo rsync`` on
  src), i.e. the usual "rsync the cache from the other box". rsync's quick check (size +
  mtime) finds the same deleted/truncated files; it verifies what it transfers with its
  own checksums, nothing else.

Both are driven from this workstation through the same (already open) SSH connection to
dst, the way `invoke mirror` drives dst. Afterwards both are verified (check_store and
the sha1 of every changed file), and everything the bench added is removed: rows and
files on both servers, the key, dst's cache config area (crds sync rewrites it) is put
back as it was. Prints JSON, writes bench/results/mirror_sync.json.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shlex
import sys

from lab_common import lab_targets, loadavg, report, timed

from fleet.ops.mirror import Mirror
from fleet.ops.remote import ConnectionFacts

PREFIX = "hst_acs_darkfile_bench"
ROWS = "/tmp/bench_mirror_rows.json"
KEYDIR = "/root/.bench-mirror"
MARK = "bench-mirror-rsync"
SNAPSHOT = "/root/.bench-mirror-config.tar"
MTIMES = "/root/.bench-mirror-mtimes"

GENERATE = r"""
import hashlib, json, math, os, random, sys
a = json.loads(sys.argv[1])
rnd = random.Random(a["seed"])
lo, hi = math.log(a["min"]), math.log(a["max"])
rows = []
for i in range(a["n"]):
    size = int(math.exp(rnd.uniform(lo, hi)))
    name = "%s%05d.fits" % (a["prefix"], i)
    data = os.urandom(size)
    tmp = os.path.join(a["dir"], "." + name + ".bench")
    with open(tmp, "wb") as out:
        out.write(data)
    os.replace(tmp, os.path.join(a["dir"], name))
    rows.append([name, size, hashlib.sha1(data).hexdigest()])
with open(a["rows"], "w") as out:
    json.dump(rows, out)
os.chmod(a["rows"], 0o644)
print(len(rows), sum(r[1] for r in rows))
"""

CATALOG = """
import json
from crds_server.interactive.models import File
rows = json.load(open({rows!r}))
File.objects.bulk_create([File(name=n, uploaded_as=n, observatory="hst", instrument="acs",
    filekind="darkfile", type="reference", state="archived", size=s, sha1sum=h,
    description="bench/mirror_sync.py", deliverer_user="bench") for n, s, h in rows],
    batch_size=1000)
print(File.objects.filter(name__startswith={prefix!r}).count())
"""

UNCATALOG = """
from crds_server.interactive.models import File
print(File.objects.filter(name__startswith={prefix!r}).delete()[0])
"""


def put(t, text: str, path: str) -> None:
    """Write ``text`` to ``path`` on t (sftp: remote.sh's stdin goes at ~100 bytes/s)."""
    name = f".{path.rsplit('/', 1)[-1]}"
    t.remote.conn.put(io.BytesIO(text.encode()), name)
    user = ConnectionFacts.of(t.host).user
    t.remote.sh(f"install -m 0644 ~{user}/{name} {path} && rm -f ~{user}/{name}")


def refdir(t) -> str:
    return f"{t.paths.file_cache}/references/{t.paths.observatory}"


def change(dst, missing: list, truncated: list) -> None:
    """Delete ``missing`` and truncate ``truncated`` (name, size) to half, on dst."""
    cmds = [f"rm -f -- {' '.join(shlex.quote(n) for n, _ in missing)}"]
    cmds += [f"truncate -s {size // 2} -- {shlex.quote(n)}" for n, size in truncated]
    dst.remote.sh(f"cd {shlex.quote(refdir(dst))} && " + " && ".join(cmds))


def verify(dst, changed: list, sha1: dict) -> None:
    """Every changed file is back with its catalogued sha1, and check_store is clean."""
    names = " ".join(shlex.quote(n) for n, _ in changed)
    out = dst.remote.sh(f"cd {shlex.quote(refdir(dst))} && sha1sum -- {names}").stdout if (
        changed) else ""
    got = dict(reversed(line.split(None, 1)) for line in out.splitlines())
    bad = [n for n, _ in changed if got.get(n) != sha1[n]]
    if bad:
        raise SystemExit(f"{dst.name}: wrong sha1 after the sync: {bad[:5]}")
    store = dst.check_store(sha1=False)
    if not store["ok"]:
        raise SystemExit(f"{dst.name}: check_store after the sync: "
                         f"{ {k: store[k][:5] for k in ('missing', 'size_mismatch', 'orphans')} }")


class Profile:
    """Seconds spent per kind of remote command while ``dst`` runs a mirror step."""

    def __init__(self, target):
        self.target, self.seconds, self.calls = target, {}, {}

    def __enter__(self):
        sh = self.target.remote.sh

        def timed_sh(script, **kw):
            kind = ("crds_sync" if "crds.sync" in script or "crds sync" in script
                    else "check_store" if "check_store" in script
                    else "agent" if "agent.py" in script
                    else "remove" if script.startswith("rm -f") else "other")
            seconds, result = timed(sh, script, **kw)
            self.seconds[kind] = self.seconds.get(kind, 0.0) + seconds
            self.calls[kind] = self.calls.get(kind, 0) + 1
            return result

        self.target.remote.sh = timed_sh
        return self

    def __exit__(self, *exc):
        del self.target.remote.sh

    def rounded(self) -> dict:
        return {k: round(v, 2) for k, v in sorted(self.seconds.items())}


def rsync_command(src, dst) -> str:
    facts = ConnectionFacts.of(src.host)
    ssh = (f"ssh -i {KEYDIR}/id -p 22 -o BatchMode=yes -o StrictHostKeyChecking=accept-new "
           f"-o UserKnownHostsFile={KEYDIR}/known_hosts")
    return (f"rsync -a -e {shlex.quote(ssh)} --rsync-path='sudo -n rsync' "
            f"{facts.user}@{src.host.hostname}:{shlex.quote(refdir(src))}/ "
            f"{shlex.quote(refdir(dst))}/")


def authorized_keys(src) -> str:
    user = ConnectionFacts.of(src.host).user
    home = src.remote.sh(f"getent passwd {shlex.quote(user)} | cut -d: -f6").stdout.strip()
    return f"{home}/.ssh/authorized_keys"


def setup_rsync_key(src, dst) -> None:
    pub = dst.remote.sh(
        f"rm -rf {KEYDIR} && install -d -m 0700 {KEYDIR} && "
        f"ssh-keygen -q -t ed25519 -N '' -C {MARK} -f {KEYDIR}/id && cat {KEYDIR}/id.pub"
    ).stdout.strip()
    src.remote.sh(f"echo {shlex.quote(pub)} >> {authorized_keys(src)}")


def preflight(t) -> dict:
    facts = t.facts()
    if facts["port_mode"] != "normal" or facts["unfinished"]:
        raise SystemExit(f"{t.name} is not idle (port {facts['port_mode']}, unfinished "
                         f"{facts['unfinished']}): not benchmarking on it")
    store = t.check_store(sha1=False)
    if not store["ok"]:
        raise SystemExit(f"{t.name}: its catalog and cache disagree before the bench: {store}")
    left = t.remote.sh(f"ls {shlex.quote(refdir(t))} | grep -c ^{PREFIX} || true").stdout
    if int(left.strip() or 0):
        raise SystemExit(f"{t.name} holds {PREFIX}* files from an earlier run; clean up first")
    return store


def cleanup(src, dst, echo) -> None:
    for t in (src, dst):
        for what, fn in (
            ("rows", lambda t=t: t.manage(["shell", "-c", UNCATALOG.format(prefix=PREFIX)])),
            ("files", lambda t=t: t.remote.sh(
                f"find {shlex.quote(refdir(t))} -maxdepth 1 \\( -name '{PREFIX}*' -o -name "
                f"'.{PREFIX}*' -o -name '.tmp_{PREFIX}*' \\) -delete; rm -f {ROWS}"))):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - clean up as much as possible
                echo(f"cleanup of {what} on {t.name} failed: {exc}")
    try:
        src.remote.sh(f"sed -i '/ {MARK}$/d' {authorized_keys(src)}")
    except Exception as exc:  # noqa: BLE001
        echo(f"removing the bench key from {src.name} failed: {exc}")
    obs = dst.paths.observatory
    try:
        dst.remote.sh(
            f"cd {shlex.quote(dst.paths.file_cache)} && if [ -f {SNAPSHOT} ]; then "
            f"rm -rf config/{obs} pickles/{obs} && tar -xpf {SNAPSHOT}; fi; "
            f"if [ -f {MTIMES} ]; then cd {shlex.quote(refdir(dst))} && "
            f"while read -r t n; do touch -c -m -d @$t -- \"$n\"; done < {MTIMES}; fi; "
            f"rm -rf {KEYDIR} {SNAPSHOT} {MTIMES}")
    except Exception as exc:  # noqa: BLE001
        echo(f"putting back {dst.name}'s cache config failed: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="hst-ops")
    parser.add_argument("--dst", default="hst-test")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--min-kib", type=int, default=4)
    parser.add_argument("--max-kib", type=int, default=4096)
    parser.add_argument("--changed-pct", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    targets = lab_targets(args.src, args.dst)
    src, dst = targets[args.src], targets[args.dst]
    mirror = Mirror(src, dst, echo=echo)  # refuses anything but a downward direction
    seeded = {t.name: preflight(t)["files"] for t in (src, dst)}
    load_before = loadavg()
    obs = dst.paths.observatory
    out: dict = {}
    try:
        echo(f"setup: {args.files} references on {src.name}, catalogued on both")
        dst.remote.sh(f"cd {shlex.quote(dst.paths.file_cache)} && "
                      f"tar -cpf {SNAPSHOT} config/{obs} $(ls -d pickles/{obs} 2>/dev/null)")
        # rsync gives dst's seeded references src's mtimes (same contents): noted, undone
        dst.remote.sh(f"cd {shlex.quote(refdir(dst))} && stat -c '%Y %n' -- * > {MTIMES}")
        spec = {"seed": args.seed, "n": args.files, "min": args.min_kib * 1024,
                "max": args.max_kib * 1024, "prefix": PREFIX, "dir": refdir(src), "rows": ROWS}
        gen_s, done = timed(src.remote.sh, f"umask 027 && python3 -c {shlex.quote(GENERATE)} "
                            f"{shlex.quote(json.dumps(spec))}", user=src.paths.crds_user)
        count, total_bytes = (int(x) for x in done.stdout.split())
        rows_text = src.remote.sh(f"cat {ROWS}").stdout
        rows = json.loads(rows_text)
        put(dst, rows_text, ROWS)
        for t in (src, dst):
            n = t.manage(["shell", "-c", CATALOG.format(rows=ROWS, prefix=PREFIX)]).stdout
            assert int(n.strip().splitlines()[-1]) == count, n
        setup_rsync_key(src, dst)
        copy_s, _ = timed(dst.remote.sh, rsync_command(src, dst))
        echo(f"setup: {count} files, {total_bytes / 1e6:.0f} MB generated in {gen_s:.0f}s, "
             f"copied to {dst.name} in {copy_s:.0f}s")
        verify(dst, [], {})

        rnd = random.Random(args.seed + 1)
        k = max(2, round(count * args.changed_pct / 100))
        changed = [(n, size) for n, size, _ in rnd.sample(rows, k)]
        missing, truncated = changed[: k // 2], changed[k // 2:]
        sha1 = {n: h for n, _, h in rows}
        changed_bytes = sum(size for _, size in changed)

        # Ours: the mirror's file-cache step, as `invoke mirror` runs it.
        dst.agent("state", path=dst.paths.state_file)  # agent in place, connection open
        change(dst, missing, truncated)
        with Profile(dst) as prof:
            ours_s, synced = timed(mirror.step_sync)
        if synced["synced"] != k:
            raise SystemExit(f"step_sync synced {synced} files, expected {k}")
        verify(dst, changed, sha1)

        # Baseline: rsync -a of the same tree with the same change.
        change(dst, missing, truncated)
        rsync_s, _ = timed(dst.remote.sh, rsync_command(src, dst))
        verify(dst, changed, sha1)

        out = {
            "benchmark": "file cache mirror, 1% of the references changed on dst: "
                         "Mirror.step_sync (check_store + crds sync) vs rsync -a over ssh",
            "src": src.name, "dst": dst.name,
            "catalog_files": seeded[dst.name] + count, "bench_references": count,
            "bench_bytes": total_bytes, "size_kib_range": [args.min_kib, args.max_kib],
            "changed_files": k, "changed_missing": len(missing),
            "changed_truncated": len(truncated), "changed_bytes": changed_bytes,
            "ours_file_step_s": round(ours_s, 2), "ours_breakdown_s": prof.rounded(),
            "ours_remote_calls": prof.calls, "transfer": "tar stream",
            "baseline_rsync_s": round(rsync_s, 2),
            "ratio": round(ours_s / rsync_s, 2), "goal": "<= 1.0",
            "pass": ours_s <= rsync_s,
            "loadavg_before": load_before, "loadavg_after": loadavg(),
        }
        out["summary"] = (f"step_sync {ours_s:.2f}s vs rsync -a {rsync_s:.2f}s for {k} changed "
                          f"of {count} references: {out['ratio']}x (goal <= 1.0)")
    finally:
        cleanup(src, dst, echo)
        after = {t.name: t.check_store(sha1=False) for t in (src, dst)}
        for t in (src, dst):
            if after[t.name]["files"] != seeded[t.name] or not after[t.name]["ok"]:
                echo(f"WARNING: {t.name} is not back to its seeded state: "
                     f"{after[t.name]['files']} files (was {seeded[t.name]}), ok="
                     f"{after[t.name]['ok']}")
            t.close()
    report("mirror_sync", out)


if __name__ == "__main__":
    main()
