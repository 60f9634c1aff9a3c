"""crds_server.seeding: the generated rules, references and datasets are judged by the
real crds client (14.0.3), run in subprocesses against the generated cache in the
client's serverless (offline) mode."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

try:
    from crds_server.seeding import generate
except ImportError:  # the app not installed into the venv: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app"))
    from crds_server.seeding import generate

OBSERVATORIES = ("hst", "jwst")
CONTEXTS = 5
SERVERLESS = "https://crds-serverless-mode.stsci.edu"  # the client's built-in offline URL


def crds_env(dest: Path, obs: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_PATH=str(dest), CRDS_SERVER_URL=SERVERLESS, CRDS_OBSERVATORY=obs,
               CRDS_MODE="local")
    return env


def crds(dest: Path, obs: str, *args: str, python: str = sys.executable):
    """Run the crds command line (`crds <sub> ...`) in a subprocess."""
    sub, rest = args[0], args[1:]
    cmd = [python, "-m", f"crds.{sub}", *rest]
    return subprocess.run(cmd, env=crds_env(dest, obs), capture_output=True, text=True,
                          timeout=300, check=False)


def crds_python(dest: Path, obs: str, code: str):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=crds_env(dest, obs), capture_output=True, text=True,
                          timeout=300, check=False)


def error_count(output: str) -> int:
    found = re.findall(r"CRDS - INFO -\s+(\d+) errors", output)
    assert found, output[-3000:]
    return int(found[-1])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """{obs: (dest, manifest)}, each observatory in its own cache tree."""
    out = {}
    for obs in OBSERVATORIES:
        dest = tmp_path_factory.mktemp(f"seed_{obs}")
        out[obs] = (dest, generate(obs, dest, contexts=CONTEXTS))
    return out


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()  # noqa: S324
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------- manifest


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_manifest_and_layout(seeded, obs):
    dest, man = seeded[obs]
    assert man == json.loads((dest / "seed.json").read_text())
    assert man["observatory"] == obs
    pmaps = [h[1] for h in man["history"]]
    assert pmaps == [f"{obs}_{i:04d}.pmap" for i in range(1, CONTEXTS + 1)]
    assert man["operational"] == man["edit"] == pmaps[-1]
    dates = [h[0] for h in man["history"]]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", d) for d in dates)
    assert dates == sorted(set(dates)), "history dates must strictly increase"
    assert dates[0][:4] == "2019" and dates[-1][:4] == "2024"
    assert all(h[2] for h in man["history"]), "every context has a description"
    names = {p.name for p in (dest / "mappings" / obs).iterdir()}
    assert {f"{obs}_{i:04d}.pmap" for i in range(1, CONTEXTS + 1)} <= names
    assert {p.split("/")[-1] for p in man["mappings"]} == names
    for rel in man["references"] + man["datasets"]:
        size = (dest / rel).stat().st_size
        assert 2_000 < size < 150_000, (rel, size)
    instruments = {ds for ds in man["expected_bestrefs"]}
    assert len(instruments) >= 3
    for refs in man["expected_bestrefs"].values():
        assert refs and all(not r.startswith("NOT FOUND") for r in refs.values())


def test_unknown_observatory_and_bad_count(tmp_path):
    with pytest.raises(ValueError):
        generate("roman", tmp_path)
    with pytest.raises(ValueError):
        generate("hst", tmp_path, contexts=0)


# ---------------------------------------------------------------------------- mappings


LOAD_ALL = """
    import json, os, sys
    from crds.core import rmap
    obs = os.environ["CRDS_OBSERVATORY"]
    mapdir = os.path.join(os.environ["CRDS_PATH"], "mappings", obs)
    refdir = os.path.join(os.environ["CRDS_PATH"], "references", obs)
    out = {"loaded": [], "closures": {}}
    for name in sorted(os.listdir(mapdir)):
        rmap.load_mapping(os.path.join(mapdir, name), ignore_checksum=False)
        out["loaded"].append(name)
    for name in sorted(n for n in os.listdir(mapdir) if n.endswith(".pmap")):
        ctx = rmap.get_cached_mapping(name, ignore_checksum=False)
        missing = [n for n in ctx.mapping_names() if not os.path.exists(os.path.join(mapdir, n))]
        missing += [n for n in ctx.reference_names()
                    if not os.path.exists(os.path.join(refdir, n))]
        out["closures"][name] = {"mappings": sorted(ctx.mapping_names()),
                                 "references": sorted(ctx.reference_names()),
                                 "missing": missing}
    print(json.dumps(out))
"""


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_every_mapping_loads_with_checksums_and_closures_are_complete(seeded, obs):
    dest, man = seeded[obs]
    proc = crds_python(dest, obs, LOAD_ALL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["loaded"]) == len(man["mappings"])
    for pmap, closure in out["closures"].items():
        assert closure["missing"] == [], pmap
        assert closure["references"], pmap
    # each new context changes one or two rmaps (and so their imaps), nothing else
    pmaps = [h[1] for h in man["history"]]
    for old, new in zip(pmaps, pmaps[1:], strict=False):
        before = set(out["closures"][old]["mappings"])
        after = set(out["closures"][new]["mappings"])
        changed_rmaps = [n for n in after - before if n.endswith(".rmap")]
        assert 1 <= len(changed_rmaps) <= 2, (new, changed_rmaps)
        assert len(after - before) == len(before - after)
    # all generated references are used by some context
    used = set().union(*(set(c["references"]) for c in out["closures"].values()))
    assert used == {r.split("/")[-1] for r in man["references"]}


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_corrupted_rmap_fails_the_checksum(seeded, obs, tmp_path):
    dest, man = seeded[obs]
    copy = tmp_path / "cache"
    shutil.copytree(dest, copy)
    rmap_path = sorted((copy / "mappings" / obs).glob("*.rmap"))[0]
    text = rmap_path.read_text()
    rmap_path.write_text(text.replace("UseAfter({", "UseAfter({\n", 1))  # still parses
    proc = crds_python(copy, obs, LOAD_ALL)
    assert proc.returncode != 0
    assert "ChecksumError" in proc.stderr and "sha1sum mismatch" in proc.stderr


# ---------------------------------------------------------------------------- certify


def _stdatamodels_in(python: str) -> bool:
    if python == sys.executable:
        return importlib.util.find_spec("stdatamodels") is not None
    return False


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_certify_last_context_has_no_errors(seeded, obs):
    if obs == "jwst" and not _stdatamodels_in(sys.executable):
        pytest.skip("crds 14.0.3 certifies JWST files only with stdatamodels installed "
                    "(crds.jwst.locate imports it)")
    dest, man = seeded[obs]
    pmaps = [h[1] for h in man["history"]]
    proc = crds_python(dest, obs, f"""
        from crds.core import rmap
        print(" ".join(rmap.get_cached_mapping({pmaps[-1]!r}).reference_names()))
    """)
    refs = [str(dest / "references" / obs / n) for n in proc.stdout.split()]
    assert refs, proc.stderr
    proc = crds(dest, obs, "certify", *refs, str(dest / "mappings" / obs / pmaps[-1]),
                "--comparison-context", pmaps[-2])
    assert error_count(proc.stdout + proc.stderr) == 0, (proc.stdout + proc.stderr)[-5000:]


def test_certify_reports_a_broken_reference(seeded, tmp_path):
    """The certify check can fail: a reference without its PEDIGREE is an error."""
    from astropy.io import fits

    dest, man = seeded["hst"]
    src = dest / man["references"][0]
    bad = tmp_path / src.name
    with fits.open(src) as hdul:
        del hdul[0].header["PEDIGREE"]
        hdul.writeto(bad)
    proc = crds(dest, "hst", "certify", str(bad), "--comparison-context", man["operational"])
    assert error_count(proc.stdout + proc.stderr) >= 1


# ---------------------------------------------------------------------------- bestrefs


@pytest.mark.parametrize("obs", OBSERVATORIES)
def test_bestrefs_selects_the_expected_references(seeded, obs):
    dest, man = seeded[obs]
    files = [str(dest / d) for d in man["datasets"]]
    proc = crds(dest, obs, "bestrefs", "--files", *files, "--new-context", man["operational"],
                "--print-new-references")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and error_count(output) == 0, output[-5000:]
    got: dict[str, dict[str, str]] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0].endswith(".fits"):
            rel = str(Path(parts[0]).relative_to(dest))
            got.setdefault(rel, {})[parts[2]] = parts[4]
    assert got == man["expected_bestrefs"]
    assert "NOT FOUND" not in output


def test_history_changes_bestrefs(seeded):
    """An old context recommends different files for some dataset (the history means
    something): crds bestrefs --old-context/--new-context reports the differences."""
    dest, man = seeded["hst"]
    files = [str(dest / d) for d in man["datasets"]]
    proc = crds(dest, "hst", "bestrefs", "--files", *files, "--old-context",
                man["history"][0][1], "--new-context", man["operational"],
                "--print-affected")
    assert error_count(proc.stdout + proc.stderr) == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), "the first and last contexts should differ for some dataset"


# ---------------------------------------------------------------------------- determinism


def test_deterministic_idempotent_and_prunes_stale_files(seeded, tmp_path):
    for obs in OBSERVATORIES:
        dest, man = seeded[obs]
        again = tmp_path / f"again_{obs}"
        assert generate(obs, again, contexts=CONTEXTS) == man
        assert tree_digest(again) == tree_digest(dest)
        # into an existing tree: same bytes, same manifest
        assert generate(obs, again, contexts=CONTEXTS) == man
        assert tree_digest(again) == tree_digest(dest)
    # fewer contexts into the same tree: files of the dropped contexts go away
    small = generate("hst", again := tmp_path / "again_hst", contexts=2)
    assert sorted(p.name for p in (again / "mappings" / "hst").glob("*.pmap")) == [
        "hst_0001.pmap", "hst_0002.pmap"]
    assert small["operational"] == "hst_0002.pmap"
    assert len(list((again / "references" / "hst").iterdir())) == len(small["references"])


def test_both_observatories_share_one_cache(tmp_path):
    for obs in OBSERVATORIES:
        generate(obs, tmp_path, contexts=3)
    assert json.loads((tmp_path / "config" / "hst" / "seed.json").read_text())[
        "observatory"] == "hst"
    assert json.loads((tmp_path / "seed.json").read_text())["observatory"] == "jwst"
    assert (tmp_path / "mappings" / "hst" / "hst_0003.pmap").exists()
    assert (tmp_path / "mappings" / "jwst" / "jwst_0003.pmap").exists()


def test_many_contexts(tmp_path):
    man = generate("jwst", tmp_path, contexts=40)
    dates = [h[0] for h in man["history"]]
    assert dates == sorted(set(dates)) and len(dates) == 40
    proc = crds_python(tmp_path, "jwst", LOAD_ALL)
    assert proc.returncode == 0, proc.stderr[-3000:]
