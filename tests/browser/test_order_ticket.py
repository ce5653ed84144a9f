"""The order ticket in a real browser, against a daphne on Massive whose prices the test sets (the local
fake Massive API, polled every second): place a limit order through the review step, see it open, see it
fill live when the price crosses, cancel another; Enter never places an order."""

import itertools
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.support import live_server_with, screenshot, sign_up
from tests.fake_massive import FakeMassive

pytestmark = pytest.mark.browser

_names = itertools.count(1)


@pytest.fixture(scope="module")
def market():
    """The fake Massive API; the test pins prices with ``set_trade``."""
    fake = FakeMassive(api_key="orders-key").start()
    fake.set_trade("AAPL", 200.0)
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def orders_server(tmp_path_factory, market):
    server = live_server_with(
        tmp_path_factory,
        "browser-daphne-orders",
        MASSIVE_API_KEY="orders-key",
        MASSIVE_BASE_URL=market.url,
        MASSIVE_POLL_INTERVAL="1",
    )
    yield server
    server.stop()


@pytest.fixture
def ticket_page(browser, orders_server):
    context = browser.new_context(base_url=orders_server.url, viewport={"width": 1360, "height": 1000})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    posts = []
    page.on(
        "request",
        lambda request: (
            posts.append(request.url) if request.method == "POST" and "/api/orders/" in request.url else None
        ),
    )
    page.posted_orders = posts
    sign_up(page, f"ticket{next(_names)}x{int(time.time()) % 100000}")
    page.goto("/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def fill_limit_buy(page, quantity: str, limit: str) -> None:
    ticket = page.locator("#order-ticket")
    ticket.locator("#ticket-ticker").fill("AAPL")
    ticket.locator("[data-side=buy]").click()
    ticket.locator("#ticket-type").select_option("limit")
    ticket.locator("#ticket-limit").fill(limit)
    ticket.locator("#ticket-quantity").fill(quantity)


def review_and_place(page) -> None:
    page.locator("#ticket-review").click()
    page.locator("#ticket-place").click()


def test_enter_in_the_quantity_box_places_no_order(ticket_page):
    page = ticket_page
    ticket = page.locator("#order-ticket")
    ticket.locator("#ticket-ticker").fill("AAPL")
    ticket.locator("#ticket-quantity").fill("1")
    ticket.locator("#ticket-quantity").press("Enter")  # no side chosen yet
    ticket.locator("[data-side=sell]").click()
    ticket.locator("[data-side=buy]").click()
    ticket.locator("#ticket-quantity").press("Enter")  # a side chosen: still only the review places
    ticket.locator("#ticket-review").press("Enter")  # Enter on "Review" reviews...
    expect(page.locator("#ticket-confirm")).to_be_visible()
    expect(page.locator("#ticket-summary")).to_contain_text("Buy 1 AAPL market")
    assert page.posted_orders == []
    expect(page.locator("#open-orders-empty")).to_be_visible()
    expect(page.locator("#order-history tbody tr")).to_have_count(0)
    expect(page.locator("#order-history-empty")).to_be_visible()


def test_a_limit_order_placed_through_the_review_opens_fills_live_and_another_is_cancelled(
    ticket_page, market
):
    page = ticket_page
    fill_limit_buy(page, "10", "185")
    expect(page.locator("#ticket-estimate")).to_contain_text("Est. cost: $1,850.00")
    expect(page.locator("#ticket-estimate")).to_contain_text("buying power after: $8,150.00")
    page.locator("#ticket-review").click()
    expect(page.locator("#ticket-summary")).to_have_text(
        "Buy 10 AAPL limit $185.00, day (cancelled at 16:00 New York time): est. $1,850.00"
    )
    assert page.posted_orders == []
    page.locator("#ticket-place").click()
    open_rows = page.locator("#open-orders tbody tr")
    expect(open_rows).to_have_count(1)
    expect(page.locator("#ticket-note")).to_contain_text("Placed: Buy 10 AAPL limit $185.00")

    fill_limit_buy(page, "1", "150")
    review_and_place(page)
    expect(open_rows).to_have_count(2)
    screenshot(page, "order-ticket-open.png")

    market.set_trade("AAPL", 184.5)  # crosses the first order's limit, not the second's
    filled = page.locator("#order-history tbody tr[data-status=filled]")
    expect(filled).to_have_count(1, timeout=15_000)
    expect(filled).to_contain_text("$184.50")
    expect(page.locator("#order-history-empty")).to_be_hidden()
    expect(open_rows).to_have_count(1)

    page.locator("#open-orders tbody tr button", has_text="Cancel").click()
    expect(open_rows).to_have_count(0)
    expect(page.locator("#order-history tbody tr[data-status=cancelled]")).to_have_count(1)
    screenshot(page, "order-ticket-filled.png")


def test_a_refused_order_is_explained_in_place(ticket_page):
    page = ticket_page
    fill_limit_buy(page, "1000", "190")  # $190,000: far beyond the cash
    review_and_place(page)
    expect(page.locator("#ticket-error")).to_contain_text(re.compile("not enough buying power", re.I))
    expect(page.locator("#open-orders tbody tr")).to_have_count(0)


def test_close_sells_a_whole_position_on_the_portfolio_page(ticket_page, market):
    page = ticket_page
    market.set_trade("AAPL", 200.0)
    ticket = page.locator("#order-ticket")
    ticket.locator("#ticket-ticker").fill("AAPL")
    ticket.locator("[data-side=buy]").click()
    ticket.locator("#ticket-quantity").fill("3")
    review_and_place(page)
    expect(page.locator("#ticket-note")).to_contain_text("Filled")
    page.goto("/portfolio/")
    page.locator("#positions tr[data-ticker=AAPL] button", has_text="Close").click()
    expect(page.locator("#positions tr[data-ticker=AAPL]")).to_have_count(0, timeout=10_000)
