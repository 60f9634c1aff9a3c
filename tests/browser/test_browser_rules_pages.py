"""The rules pages in Chromium: a context as a table, two contexts compared from the
history page's form, and best references computed from an uploaded dataset file, the same
answer as the crds library gives locally. Each page leaves a screenshot."""

from __future__ import annotations

import json
import os
import subprocess

from browserkit import open_page, screenshot
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait
from test_site_pages import submit_form

from fleet.paths import VENV_BIN


def local_crds(site, code: str) -> str:
    """The crds library in this machine's process, serverless, on the site's own files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_PATH=str(site.base / "file_cache"), CRDS_OBSERVATORY="hst")
    done = subprocess.run([str(VENV_BIN / "python"), "-c", code], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_context_as_a_table(browser, site):
    pmap = site.result("get_default_context", "hst", "operational")
    open_page(browser, site, f"/context_table/{pmap}")
    shown = {a.text for a in browser.find_elements(By.CSS_SELECTOR, "main a")
             if a.text.endswith(".imap")}
    wanted = set(json.loads(local_crds(site, (
        "import json; from crds.core import rmap; "
        f"print(json.dumps([m.name for m in rmap.get_cached_mapping({pmap!r})"
        ".selections.values()]))"))))
    assert shown == wanted and wanted
    screenshot(browser, "context_table")


def test_two_contexts_compared_from_the_history_page(browser, site):
    open_page(browser, site, "/context_history/")
    Select(browser.find_element(By.NAME, "old")).select_by_visible_text("hst_0001.pmap")
    Select(browser.find_element(By.NAME, "new")).select_by_visible_text("hst_0005.pmap")
    submit_form(browser, "compare")
    WebDriverWait(browser, 30).until(EC.url_contains("/difference/"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.difference")
    wanted = int(local_crds(site, (
        "from crds.core import rmap; a = rmap.get_cached_mapping('hst_0001.pmap'); "
        "b = rmap.get_cached_mapping('hst_0005.pmap'); "
        "print(len(a.difference(b, include_header_diffs=False, recurse_added_deleted=False)))")))
    assert len(rows) == wanted and wanted
    screenshot(browser, "difference")


def test_best_references_from_an_uploaded_dataset_equal_the_local_library(browser, site):
    dataset = next(site.base.glob("server_files/seed/hst/datasets/hst/jdemo1wfq_raw.fits"))
    pmap = site.result("get_default_context", "hst", "operational")
    open_page(browser, site, "/bestrefs/")
    Select(browser.find_element(By.NAME, "context")).select_by_visible_text(pmap)
    browser.find_element(By.NAME, "dataset").send_keys(str(dataset))
    submit_form(browser, "bestrefs-form")
    shown = {row.get_attribute("data-filekind"):
             row.find_element(By.CSS_SELECTOR, "td.reference").text
             for row in browser.find_elements(By.CSS_SELECTOR, "#bestrefs tr.bestref")}
    wanted = json.loads(local_crds(site, (
        "import json; from crds import data_file; from crds.core import rmap; "
        f"h = data_file.get_header({str(dataset)!r}); "
        f"print(json.dumps(rmap.get_cached_mapping({pmap!r}).get_best_references(h)))")))
    found = {k.lower(): v for k, v in wanted.items() if not str(v).upper().startswith("NOT FOUND")}
    assert found and {k: shown.get(k) for k in found} == found, (shown, wanted)
    screenshot(browser, "bestrefs")
