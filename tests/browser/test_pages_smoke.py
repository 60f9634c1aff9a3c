"""The harness itself: the app's pages load in the headless Chromium and show what a user
sees (title, navigation, a file's page, the not-found page), a screenshot is a real PNG,
and the real login form signs a submitter in and refuses a wrong password."""

from __future__ import annotations

import struct
from urllib.parse import urlsplit

import pytest
from browserkit import (
    OPERATOR,
    SUBMITTER,
    error_message,
    login,
    open_page,
    screenshot,
    submit_login,
)
from selenium.webdriver.common.by import By

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAVIGATION = {"/": "Home", "/context_history/": "Context history",
              "/recent_activity/": "Recent activity"}


def _nav_links(browser) -> dict[str, str]:
    return {urlsplit(a.get_attribute("href")).path: a.text.strip()
            for a in browser.find_elements(By.CSS_SELECTOR, "header nav a")}


def test_home_page_title_and_navigation(browser, site):
    open_page(browser, site, "/")
    assert "CRDS HST" in browser.title
    assert "CRDS HST" in browser.find_element(By.CSS_SELECTOR, "header h1").text
    links = _nav_links(browser)
    for path, text in NAVIGATION.items():
        assert links.get(path) == text, f"navigation link {text} ({path}) missing: {links}"
        assert browser.find_element(By.CSS_SELECTOR, f"header nav a[href='{path}']").is_displayed()


def test_screenshot_is_a_png_of_the_page(browser, site):
    open_page(browser, site, "/")
    path = screenshot(browser, "home")
    data = path.read_bytes()
    assert path.name == "home.png" and path.parent.name == "screens"
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    viewport = browser.execute_script(
        "return [window.innerWidth * devicePixelRatio, window.innerHeight * devicePixelRatio]")
    assert [width, height] == [round(v) for v in viewport], (width, height, viewport)
    assert len(data) > 5000, f"{path} is only {len(data)} bytes: a blank page?"


def test_browse_a_catalogued_context(browser, site):
    pmap = site.result("get_default_context", "hst")
    assert pmap.endswith(".pmap")
    open_page(browser, site, f"/browse/{pmap}")
    assert pmap in browser.title
    assert browser.find_element(By.TAG_NAME, "h2").text.startswith(pmap)
    download = browser.find_element(By.PARTIAL_LINK_TEXT, f"Download {pmap}")
    assert urlsplit(download.get_attribute("href")).path.endswith(f"/{pmap}")


def test_unknown_file_is_not_found(browser, site):
    assert site.status("/browse/nonexistent.pmap") == 404
    open_page(browser, site, "/browse/nonexistent.pmap")
    shown = browser.title + "\n" + browser.find_element(By.TAG_NAME, "body").text
    assert "not found" in shown.lower(), shown
    assert not browser.find_elements(By.PARTIAL_LINK_TEXT, "Download nonexistent.pmap")


@pytest.mark.parametrize("user", [SUBMITTER, OPERATOR])
def test_account_logs_in(browser, site, user):
    assert browser.get_cookie("sessionid") is None  # each test starts signed out
    login(browser, site, user, site.passwords[user], next_path="/submit/reference/")
    assert urlsplit(browser.current_url).path == "/submit/reference/"
    assert "Batch submit references" in browser.find_element(By.TAG_NAME, "h2").text
    assert error_message(browser) is None  # signed out, the page says "log in first"


def test_submit_page_asks_a_stranger_to_log_in(browser, site):
    open_page(browser, site, "/submit/reference/")
    assert "log in first" in (error_message(browser) or ""), browser.page_source[:2000]


def test_wrong_password_is_refused(browser, site):
    error = submit_login(browser, site, SUBMITTER, site.passwords[SUBMITTER] + "-wrong")
    assert error and "wrong user name or password" in error, error
    assert error_message(browser) == error
    assert browser.find_element(By.ID, "error_message").is_displayed()
    assert urlsplit(browser.current_url).path == "/login/"
    assert browser.get_cookie("sessionid") is None
