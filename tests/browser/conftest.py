"""Browser tests: the app's web pages in Debian's headless Chromium, driven by Selenium
through chromedriver, against the app served for real (Apache + mod_wsgi, SQLite, a private
memcached). Helpers live in browserkit.py."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from browserkit import Site, chrome, make_site

from fleet.django_server import Memcached


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (fails, never skips, without Chromium)."""
    driver = chrome()
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def _signed_out(request):
    """Each test starts signed out: the session's browser forgets its cookies after it."""
    yield
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").execute_cdp_cmd("Network.clearBrowserCookies", {})


@pytest.fixture(scope="session")
def site() -> Site:
    """A seeded HST server with alice (submitter) and oscar (submitter, `operators` group):
    site.url, site.manage(...), site.passwords[name], site.httpd. Tests must not change it."""
    # Apache's unprivileged user must reach the instance (pytest's tmp dirs are 0700).
    base = Path(tempfile.mkdtemp(prefix="crds-browsertest-", dir="/tmp"))
    memcached = Memcached()
    served = None
    try:
        memcached.start()
        served = make_site(base, memcached)
        yield served.start()
    finally:
        if served is not None:
            served.stop()
        memcached.stop()
        shutil.rmtree(base, ignore_errors=True)
