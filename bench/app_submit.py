"""A 100 MB reference submitted through Apache + mod_wsgi with the real crds client's own
code (crds.submit.web: chunked upload, then batch submit: certify, official name, rmap
insert, new contexts; then confirm), against curl uploading the same file to a static
upload endpoint of the same Apache (mod_dav PUT into a directory): the transfer limit.

Prints the upload ratio (app / curl, both MB/s; goal >= 0.5), the seconds of certify +
submit and of confirm, and the wall time of a whole `crds submit --autoconfirm` (which
sleeps 10 s by itself after posting and polls every 3 s: reported, not compared).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from app_common import app_server, manage, report
from astropy.io import fits

from fleet.paths import VENV_BIN

ROUNDS = 3
USER, PASSWORD = "bench", "a long bench password 123"
SIDE = 5120  # float32 5120 x 5120: 100 MiB of data


def make_reference(store: Path, dest: Path, n: int) -> None:
    with fits.open(store / "references" / "hst" / "32b1403dj_drk.fits") as hdul:
        header = hdul[0].header.copy()
    header["USEAFTER"] = f"Jan {n + 1:02d} 2030 00:00:00"
    data = np.random.default_rng(n).random((SIDE, SIDE), dtype=np.float32)
    fits.PrimaryHDU(data=data, header=header).writeto(dest, overwrite=True,
                                                      output_verify="silentfix")


def client_env(url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_SERVER_URL=url, CRDS_OBSERVATORY="hst", MAST_API_TOKEN=PASSWORD,
               CRDS_PATH=tempfile.mkdtemp(prefix="crds-bench-client-"))
    return env


PHASES = """
import json, re, sys, time
from crds.submit import web
c = web.CrdsDjangoConnection('acs', {user!r}, {password!r}, {url!r})
c.login()
t0 = time.perf_counter(); c.upload_file({ref!r}); t1 = time.perf_counter()
c.get('/jpoll/open_channel')
r = c.repost('/batch_submit_references/', pmap_mode='pmap_edit', pmap_name='',
             instrument='acs', change_level='SEVERE', creator='bench', description='bench',
             auto_rename=True, compare_old_reference=True)
t2 = time.perf_counter()
rid = re.search(r'name="results_id" value="([0-9a-f-]+)"', r.text).group(1)
c.repost_confirm_or_cancel({url!r} + '/display_result/' + rid, action='confirm')
t3 = time.perf_counter()
c.logout()
print(json.dumps({{'upload': t1 - t0, 'certify_submit': t2 - t1, 'confirm': t3 - t2}}))
"""


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="crds-bench-submit-", dir="/tmp"))
    dav = work / "dav"
    dav.mkdir()
    include = work / "dav.conf"
    include.write_text(
        "LoadModule dav_module /usr/lib/apache2/modules/mod_dav.so\n"
        "LoadModule dav_fs_module /usr/lib/apache2/modules/mod_dav_fs.so\n"
        f"DavLockDB {work}/davlocks/lock\n"
        f"<Directory {dav}>\n  Dav On\n  Require all granted\n</Directory>\n")
    os.chmod(work, 0o755)  # noqa: S103 - Apache's user walks into it
    (work / "davlocks").mkdir()
    for path in (dav, work / "davlocks"):
        shutil.chown(path, "www-data", "www-data")

    def add_submitter(site):
        manage(site, "submitter", "set", USER, "--email", "bench@example.invalid",
               input=PASSWORD + "\n")

    rows = {"app_upload_s": [], "curl_put_s": [], "certify_submit_s": [], "confirm_s": []}
    with app_server("hst", setup=add_submitter, extra_args=(
            "--include-file", str(include), "--url-alias", "/davupload", str(dav))) as (
            httpd, site):
        store = site.parent / "file_cache"
        env = client_env(httpd.url)
        for n in range(ROUNDS + 1):
            ref = work / f"bench_dark_{n}.fits"
            make_reference(store, ref, n)
            size = ref.stat().st_size
            t0 = time.perf_counter()
            subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", "-T", str(ref),
                            f"{httpd.url}/davupload/{ref.name}"], check=True)
            curl = time.perf_counter() - t0
            assert (dav / ref.name).stat().st_size == size
            (dav / ref.name).unlink()
            done = subprocess.run([str(VENV_BIN / "python"), "-c", PHASES.format(
                user=USER, password=PASSWORD, url=httpd.url, ref=str(ref))], env=env,
                capture_output=True, text=True, check=False, timeout=1800)
            if done.returncode:
                raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
            phases = __import__("json").loads(done.stdout.strip().splitlines()[-1])
            if n == 0:
                continue  # warm-up: page cache, imports, the first rmap load
            rows["curl_put_s"].append(curl)
            rows["app_upload_s"].append(phases["upload"])
            rows["certify_submit_s"].append(phases["certify_submit"])
            rows["confirm_s"].append(phases["confirm"])
            ref.unlink()
        whole_ref = work / "bench_dark_whole.fits"
        make_reference(store, whole_ref, 20)
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(VENV_BIN / "crds"), "submit", "--files", str(whole_ref), "--username", USER,
             "--monitor-processing", "--wait-for-completion", "--autoconfirm",
             "--description", "bench", "--creator", "bench"], env=env, capture_output=True,
            text=True, check=False, timeout=1800)
        whole = time.perf_counter() - t0
        if done.returncode or not re.search(r"COMPLETED", done.stdout + done.stderr):
            raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    subprocess.run(["rm", "-rf", str(work)], check=False)
    med = {k: statistics.median(v) for k, v in rows.items()}
    mb = size / 1e6
    ratio = (mb / med["app_upload_s"]) / (mb / med["curl_put_s"])
    report("app_submit", {
        "benchmark": f"{mb:.0f} MB reference, median of {ROUNDS} after a warm-up",
        "app_upload_MBps": round(mb / med["app_upload_s"], 1),
        "curl_dav_put_MBps": round(mb / med["curl_put_s"], 1),
        "upload_ratio_app_over_curl": round(ratio, 2),
        "certify_and_submit_s": round(med["certify_submit_s"], 2),
        "confirm_s": round(med["confirm_s"], 2),
        "whole_crds_submit_autoconfirm_s": round(whole, 1),
        "rounds": {k: [round(x, 2) for x in v] for k, v in rows.items()},
        "summary": f"upload {mb / med['app_upload_s']:.0f} MB/s vs curl PUT "
                   f"{mb / med['curl_put_s']:.0f} MB/s (ratio {ratio:.2f}); certify+submit "
                   f"{med['certify_submit_s']:.1f} s, confirm {med['confirm_s']:.1f} s; whole "
                   f"crds submit {whole:.0f} s",
    })


if __name__ == "__main__":
    sys.exit(main())
