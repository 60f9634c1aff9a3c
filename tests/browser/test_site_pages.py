"""The site's pages in Chromium, as their users work them: filter the catalog, read a
reference's panes, search recent activity, and as an operator set the operational context
(the real `crds list --status` reports it) and mark an rmap bad (the real client then
refuses the rules with CrdsBadRulesError) and good again. Each page leaves a screenshot
under .cache/screens/ for a person to look at."""

from __future__ import annotations

import json
import os
import subprocess

from browserkit import OPERATOR, SUBMITTER, login, open_page, screenshot, wait_replaced
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from fleet.paths import VENV_BIN


def catalog(site) -> dict[str, dict]:
    done = site.manage("shell", "-c", "import json; from crds_server.interactive.models import "
                       "File; print(json.dumps({f.name: {'instrument': f.instrument, "
                       "'filekind': f.filekind} for f in File.objects.all()}))")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table_names(browser, table_id: str) -> list[str]:
    return [row.find_element(By.CSS_SELECTOR, "td a").text
            for row in browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tr")
            if row.find_elements(By.CSS_SELECTOR, "td a")]


def click_and_wait(browser, element) -> None:
    """Click what sends a form, and wait until the answer has replaced the page."""
    element.click()
    wait_replaced(browser, element)


def submit_form(browser, form_id: str) -> None:
    form = browser.find_element(By.ID, form_id)
    click_and_wait(browser, form.find_element(By.CSS_SELECTOR, "button[type='submit']"))


def crds(site, tmp_path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    """The real crds client (its own cache) against the site."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_SERVER_URL=site.url, CRDS_PATH=str(tmp_path / "crds"),
               CRDS_OBSERVATORY="hst")
    argv = [str(VENV_BIN / "python"), "-c", code] if code else [str(VENV_BIN / "crds"), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_browse_database_filters_by_instrument_and_filekind(browser, site):
    wanted = {n for n, i in catalog(site).items()
              if i["instrument"] == "acs" and i["filekind"] == "darkfile"}
    open_page(browser, site, "/browse_db/")
    Select(browser.find_element(By.NAME, "instrument")).select_by_visible_text("acs")
    Select(browser.find_element(By.NAME, "filekind")).select_by_visible_text("darkfile")
    submit_form(browser, "filters")
    assert set(table_names(browser, "files")) == wanted and wanted
    screenshot(browser, "browse_db")


def test_a_reference_page_shows_its_panes(browser, site):
    ref = "32b1403dj_drk.fits"
    open_page(browser, site, f"/browse/{ref}")
    for pane in ("database", "contents", "past-actions", "used-by", "lookup-patterns"):
        assert browser.find_element(By.ID, pane).is_displayed(), pane
    used_by = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".used-by a")]
    assert any(n.endswith(".rmap") for n in used_by) and any(n.endswith(".pmap")
                                                            for n in used_by), used_by
    headers = {th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.header th")}
    assert {"USEAFTER", "INSTRUME", "DETECTOR"} <= headers
    screenshot(browser, "file_reference")


def test_recent_activity_searched_by_file_pattern(browser, site):
    open_page(browser, site, "/recent_activity/")
    box = browser.find_element(By.NAME, "filename")
    box.send_keys("*.pmap")
    submit_form(browser, "search")
    files = table_names(browser, "activity")
    assert files and all(n.endswith(".pmap") for n in files), files
    screenshot(browser, "recent_activity")


def test_an_operator_sets_the_operational_context_and_the_client_sees_it(
        browser, site, tmp_path):
    before = site.result("get_default_context", "hst", "operational")
    target = "hst_0004.pmap"
    login(browser, site, OPERATOR, site.passwords[OPERATOR])
    open_page(browser, site, "/set_context/")
    Select(browser.find_element(By.NAME, "context")).select_by_visible_text(target)
    Select(browser.find_element(By.NAME, "which")).select_by_visible_text("operational")
    browser.find_element(By.NAME, "description").send_keys("a browser test goes back one")
    submit_form(browser, "choose")
    screenshot(browser, "set_context_confirm")
    assert site.result("get_default_context", "hst", "operational") == before  # asks first
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR,
                                                 "#confirm button[value='confirm']"))
    assert target in browser.find_element(By.ID, "done").text
    status = crds(site, tmp_path, "list", "--status")
    assert f"Operational Context = '{target}'" in status.stdout.replace('"', "'") \
        or target in status.stdout, status.stdout + status.stderr
    site.manage("set_context", "--operational", before, "--description", "forward again")
    assert site.result("get_default_context", "hst", "operational") == before


def test_a_submitter_is_no_operator(browser, site):
    login(browser, site, SUBMITTER, site.passwords[SUBMITTER])
    open_page(browser, site, "/set_context/")
    assert "not an operator" in browser.find_element(By.ID, "error_message").text


def test_an_rmap_marked_bad_fails_the_real_client_until_marked_good(browser, site, tmp_path):
    pmap = site.result("get_default_context", "hst", "operational")
    rmap = next(n for n in site.result("get_mapping_names", pmap)
                if n.startswith("hst_acs_darkfile"))
    use = ("import crds\n"
           f"refs = crds.getreferences({{'INSTRUME': 'ACS', 'DETECTOR': 'WFC', "
           f"'DATE-OBS': '2020-01-01', 'TIME-OBS': '00:00:00', 'CCDAMP': 'ABCD', "
           f"'CCDGAIN': '2.0', 'REFTYPE': 'UNDEFINED'}}, reftypes=['darkfile'], "
           f"observatory='hst', context={pmap!r})\n"
           "print('selected', refs)\n")
    assert "selected" in crds(site, tmp_path / "a", code=use).stdout
    login(browser, site, OPERATOR, site.passwords[OPERATOR])
    open_page(browser, site, "/mark_bad/")
    browser.find_element(By.NAME, "names").send_keys(rmap)
    browser.find_element(By.NAME, "reason").send_keys("a browser test")
    submit_form(browser, "choose")
    users = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "ul.users li")]
    assert pmap in users, users  # the contexts it spoils, listed before anything changes
    screenshot(browser, "mark_bad_confirm")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR,
                                                 "#confirm button[value='confirm']"))
    assert rmap in browser.find_element(By.ID, "done").text
    refused = crds(site, tmp_path / "b", code=use)
    assert "CrdsBadRulesError" in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    open_page(browser, site, "/mark_bad/")
    browser.find_element(By.NAME, "names").send_keys(rmap)
    browser.find_element(By.CSS_SELECTOR, "input[name='action'][value='good']").click()
    browser.find_element(By.NAME, "reason").send_keys("it was fine after all")
    submit_form(browser, "choose")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR,
                                                 "#confirm button[value='confirm']"))
    assert rmap in browser.find_element(By.ID, "done").text
    assert "selected" in crds(site, tmp_path / "c", code=use).stdout


def test_every_page_loads_in_the_layout_and_is_screenshotted(browser, site):
    """Each page a person opens, in the one layout (the navigation and the server's banner),
    with its screenshot under .cache/screens/ to look at."""
    pmap = site.result("get_default_context", "hst", "operational")
    pages = {"home": "/", "context_history": "/context_history/",
             "browse_db_all": "/browse_db/", "file_mapping": f"/browse/{pmap}",
             "recent_activity_all": "/recent_activity/", "deliveries": "/delivery_status/",
             "login": "/login/", "bestrefs_form": "/bestrefs/",
             "difference_form": "/difference/", "not_found": "/browse/hst_9999.pmap"}
    for name, path in pages.items():
        open_page(browser, site, path)
        assert browser.find_element(By.ID, "server-banner").is_displayed(), path
        assert browser.find_elements(By.CSS_SELECTOR, "header nav a"), path
        screenshot(browser, name)
    assert "hst_9999.pmap" in browser.find_element(By.ID, "error_message").text
    login(browser, site, OPERATOR, site.passwords[OPERATOR])
    for name, path in {"set_context": "/set_context/", "mark_bad": "/mark_bad/",
                       "submit": "/batch_submit_references/"}.items():
        open_page(browser, site, path)
        assert not browser.find_elements(By.ID, "error_message"), path
        screenshot(browser, name)
