"""The dashboard on Massive prices: a ticker Massive does not know is reported where the user added it."""

import itertools
import time

import pytest
from playwright.sync_api import expect

from tests.browser.support import sign_up

pytestmark = pytest.mark.browser

_names = itertools.count(1)


@pytest.fixture
def massive_page(browser, massive_server):
    context = browser.new_context(base_url=massive_server.url, viewport={"width": 1360, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def test_a_ticker_massive_does_not_know_is_marked_unknown_on_the_dashboard(massive_page):
    page = massive_page
    sign_up(page, f"massive{next(_names)}x{int(time.time()) % 100000}")
    page.goto("/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    page.fill("#add-ticker input[name=ticker]", "zzzz")
    page.locator("#add-ticker button").click()
    row = page.locator('#watchlist tr[data-ticker="ZZZZ"]')
    expect(row).to_have_attribute("data-state", "pending")

    # The page waits max(5 s, two polls + 1 s) for a first price before it says so.
    expect(row).to_have_attribute("data-state", "unknown", timeout=10_000)
    expect(row.locator("[data-price]")).to_have_text("no price / unknown")
    expect(page.locator('#watchlist tr[data-ticker="AAPL"]')).to_have_attribute("data-state", "priced")

    page.reload()
    expect(row).to_have_attribute("data-state", "unknown")


def test_the_trade_form_says_when_massive_does_not_know_a_ticker(massive_page):
    page = massive_page
    sign_up(page, f"massive{next(_names)}x{int(time.time()) % 100000}")
    page.goto("/")
    page.fill("#add-ticker input[name=ticker]", "zzzz")
    page.locator("#add-ticker button").click()
    row = page.locator('#watchlist tr[data-ticker="ZZZZ"]')
    expect(row).to_have_attribute("data-state", "unknown", timeout=10_000)
    page.goto("/portfolio/")
    page.locator("#trade-ticker").press_sequentially("zzzz")
    page.locator("#trade-ticker").press("Tab")
    expect(page.locator("#trade-ticker-note")).to_have_text(
        "Massive does not know ZZZZ: it has no price, so it cannot be traded."
    )
