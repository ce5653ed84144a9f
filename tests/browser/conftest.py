"""Fixtures of the browser tests: a real daphne with its own database, and Debian's Chromium.

The server is a subprocess with its own migrated SQLite file, never pytest-django's test database,
so these tests use no ``django_db`` marker (and the server fixture is not named ``live_server``,
which would make pytest-django set up its test database). Playwright's sync API marks its event
loop as running in this thread while it is alive: its fixtures are package-scoped, so that loop is
gone before the async tests of other packages run.
"""

import pytest

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, live_server_with
from tests.fake_massive import FakeMassive
from tests.support import require, wait_for


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    """A daphne with a 0.25 s simulator and a superuser."""
    server = live_server_with(
        tmp_path_factory, "browser-daphne", superuser=True, SIMULATOR_INTERVAL="0.25", SIMULATOR_SEED="2024"
    )
    wait_for(server.has_sparklines, 15, interval=0.25, message="a few ticks of history on the dashboard")
    yield server
    server.stop()


@pytest.fixture(scope="package")
def csp_server(tmp_path_factory):
    """A daphne with the project's settings under a strict CSP (tests/browser/csp_settings.py: scripts and
    styles from 'self' only), a 0.25 s simulator and a superuser."""
    server = live_server_with(
        tmp_path_factory,
        "browser-daphne-csp",
        superuser=True,
        DJANGO_SETTINGS_MODULE="tests.browser.csp_settings",
        SIMULATOR_INTERVAL="0.25",
    )
    yield server
    server.stop()


@pytest.fixture(scope="package")
def massive_server(tmp_path_factory):
    """A daphne on Massive (the local fake API, polled every second) that does not know ZZZZ."""
    fake = FakeMassive(api_key="browser-key", unknown={"ZZZZ"}).start()
    try:
        server = live_server_with(
            tmp_path_factory,
            "browser-daphne-massive",
            MASSIVE_API_KEY="browser-key",
            MASSIVE_BASE_URL=fake.url,
            MASSIVE_POLL_INTERVAL="1",
        )
    except BaseException:
        fake.stop()
        raise
    yield server
    server.stop()
    fake.stop()


@pytest.fixture(scope="package")
def browser():
    require(CHROMIUM.exists(), "Chromium (Debian package chromium, /usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def context(browser, server):
    """A fresh browser profile (no cookies) pointed at the live server.

    It bypasses the Content-Security-Policy: Playwright's ``wait_for_function`` evaluates its predicate
    with ``eval`` in the page, which the policy forbids. tests/browser/test_content_security_policy.py
    drives pages under the policy itself, in contexts of its own."""
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1360, "height": 860}, bypass_csp=True
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    """A page that fails the test on any uncaught script error."""
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"script errors on the page: {errors}"
