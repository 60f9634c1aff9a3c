"""Helpers of the browser tests (tests/browser/conftest.py has the fixtures): the app's web
pages in a real headless browser. Selenium drives Debian's Chromium through Debian's
chromedriver (`make system` installs both); nothing is downloaded, Selenium Manager is never
asked. The app is served as in tests/app: Apache + mod_wsgi (mod_wsgi-express), SQLite and a
private memcached on loopback, with accounts made by the app's own `manage.py submitter`."""

from __future__ import annotations

import json
import os
import re
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from rpckit import JsonRpc
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from fleet.django_server import Memcached, ModWsgiServer, manage, prepare
from fleet.paths import CACHE

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_ARGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
               "--window-size=1280,1000")
SCREENS = CACHE / "screens"
WAIT = 30  # seconds a page (or an element on it) may take to appear

OBSERVATORY = "hst"
SUBMITTER = "alice"  # a submitter
OPERATOR = "oscar"   # a submitter who is also in the `operators` group
OPERATORS_GROUP = "operators"


# ---------------------------------------------------------------- the browser


def require_browser() -> None:
    """Fail (never skip) when Debian's Chromium or its chromedriver is not installed."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"the browser tests need Debian's Chromium and chromedriver; missing: "
                    f"{', '.join(missing)}. Run `make system` (it apt-installs chromium "
                    "chromium-driver)", pytrace=False)


def chrome() -> webdriver.Chrome:
    """A headless Chromium driven through /usr/bin/chromedriver (quit it when done)."""
    require_browser()
    # The driver's path is given, so Selenium Manager is skipped; should anything still ask
    # it, it must stay offline (no browser or driver download).
    os.environ["SE_OFFLINE"] = "true"
    os.environ["SE_AVOID_STATS"] = "true"
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT * 2)
    return driver


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save what the browser shows as .cache/screens/<name>.png; return the path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(f"screenshot name {name!r}: letters, digits, '.', '_', '-' only")
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"the browser could not save {path}"
    return path


def wait_complete(driver: webdriver.Chrome) -> None:
    """Wait until the browser's current document has loaded completely."""
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def open_page(driver: webdriver.Chrome, site: Site, path: str) -> None:
    """Load ``path`` of the site and wait until its document is complete."""
    driver.get(site.url + path)
    wait_complete(driver)


# What chromedriver answers when asked about an element of a document the browser has left:
# the W3C "stale element reference", or, when the question races the navigation, an
# "unknown error" from the inspector naming the node as not in the document.
_GONE = ("does not belong to the document", "No node with given id", "Node is detached")


def gone(element) -> bool:
    """True once ``element``'s page has been replaced by the next one (EC.staleness_of, which
    lets chromedriver's inspector form of the same answer escape as an error)."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as err:
        if any(text in (err.msg or "") for text in _GONE):
            return True
        raise
    return False


def wait_replaced(driver: webdriver.Chrome, element) -> None:
    """Wait until the answer to a click has replaced the page that held ``element``."""
    WebDriverWait(driver, WAIT).until(lambda _driver: gone(element))
    wait_complete(driver)


def error_message(driver: webdriver.Chrome) -> str | None:
    """The text of the page's #error_message, or None when the page shows none."""
    found = driver.find_elements(By.ID, "error_message")
    return found[0].text if found else None


def submit_login(driver: webdriver.Chrome, site: Site, user: str, password: str,
                 instrument: str = "none", next_path: str | None = None) -> str | None:
    """Fill in and send the real /login/ form; return the #error_message shown, or None."""
    open_page(driver, site, "/login/" + (f"?{urlencode({'next': next_path})}" if next_path else ""))
    form = driver.find_element(By.CSS_SELECTOR, "form[action='/login/']")
    form.find_element(By.NAME, "username").clear()
    form.find_element(By.NAME, "username").send_keys(user)
    form.find_element(By.NAME, "password").send_keys(password)
    Select(form.find_element(By.NAME, "instrument")).select_by_value(instrument)
    form.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    wait_replaced(driver, form)
    return error_message(driver)


def login(driver: webdriver.Chrome, site: Site, user: str, password: str,
          instrument: str = "none", next_path: str | None = None) -> None:
    """Log in through the real /login/ page; fail with the page's message when refused."""
    error = submit_login(driver, site, user, password, instrument, next_path)
    assert error is None, f"logging in as {user} (instrument {instrument}) was refused: {error}"
    assert driver.get_cookie("sessionid"), f"no session cookie after logging in as {user}"


# ---------------------------------------------------------------- the site


class Site(JsonRpc):
    """An HST app instance served by Apache + mod_wsgi, with its accounts."""

    def __init__(self, base: Path, site_config: Path, memcached: Memcached,
                 passwords: dict[str, str]):
        self.observatory = OBSERVATORY
        self.base = base
        self.site_config = site_config
        self.memcached = memcached
        self.passwords = passwords
        self.httpd: ModWsgiServer | None = None
        self.url = ""

    def manage(self, *args: str, check: bool = True, input: str | None = None):
        """app/manage.py on this instance (``input``: its stdin)."""
        return manage(self.site_config, *args, check=check, input=input)

    def add_account(self, name: str, password: str, operator: bool = False) -> None:
        """A submitter made by `manage.py submitter set` (password on stdin), with
        ``operator`` also in the operators group."""
        self.manage("submitter", "set", name, "--email", f"{name}@example.invalid",
                    *(["--operator"] if operator else []), input=password + "\n")
        listed = self.manage("shell", "-c", (
            "import json; from django.contrib.auth.models import User; "
            f"print(json.dumps(sorted(User.objects.get(username={name!r})"
            ".groups.values_list('name', flat=True))))")).stdout.strip().splitlines()[-1]
        wanted = {"submitters", *([OPERATORS_GROUP] if operator else [])}
        assert set(json.loads(listed)) == wanted, f"account {name} is in {listed}, not {wanted}"

    def start(self) -> Site:
        self.httpd = ModWsgiServer(self.site_config, access_log=True)
        self.httpd.start()
        self.url = self.httpd.url
        return self

    def stop(self) -> None:
        """Stop Apache (also one whose start failed half way)."""
        if self.httpd is not None:
            self.httpd.stop()

    def status(self, path: str) -> int:
        """The HTTP status of a GET of ``path`` (what the browser does not tell)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=60) as reply:  # noqa: S310
                return reply.status
        except urllib.error.HTTPError as exc:
            return exc.code


def make_site(base: Path, memcached: Memcached) -> Site:
    """Prepare and seed an HST instance under ``base`` (world-searchable, see
    tests/app/appkit.instance_base) and make alice (submitter) and oscar (submitter and
    operator); ``start()`` serves it. The passwords are new each session."""
    config = prepare(base, OBSERVATORY, f"{OBSERVATORY}-browsertest", cache=memcached.location)
    passwords = {SUBMITTER: secrets.token_urlsafe(12), OPERATOR: secrets.token_urlsafe(12)}
    site = Site(base, config, memcached, passwords)
    # Before Apache starts: the server then owns the instance, database included.
    site.add_account(SUBMITTER, passwords[SUBMITTER])
    site.add_account(OPERATOR, passwords[OPERATOR], operator=True)
    return site
