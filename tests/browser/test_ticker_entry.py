"""Ticker boxes suggest tickers as one types (GET /api/tickers/?q=, stubbed here with its contract's
shape until the endpoint lands on this branch), and the trade form says in place why a ticker cannot
be traded."""

import itertools
import json
import time
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.support import sign_up

pytestmark = pytest.mark.browser

_names = itertools.count(1)

KNOWN = [
    {"ticker": "AAPL", "name": "Apple Inc.", "price": 190.12},
    {"ticker": "AMZN", "name": "Amazon.com, Inc.", "price": 185.5},
    {"ticker": "AMD", "name": "Advanced Micro Devices, Inc.", "price": None},
]


def new_username() -> str:
    return f"tickers{next(_names)}x{int(time.time()) % 100000}"


def stub_suggestions(page) -> list[str]:
    """Answer /api/tickers/ from KNOWN (symbol prefix, case-insensitive); returns the queries asked."""
    asked = []

    def answer(route):
        query = parse_qs(urlparse(route.request.url).query).get("q", [""])[0]
        asked.append(query)
        rows = [row for row in KNOWN if row["ticker"].startswith(query.strip().upper())]
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"tickers": rows}))

    page.route("**/api/tickers/?*", answer)
    return asked


def test_the_trade_ticker_box_suggests_tickers_and_takes_one_with_the_keyboard(page):
    sign_up(page, new_username())
    asked = stub_suggestions(page)
    page.goto("/portfolio/")
    box = page.locator("#trade-ticker")
    box.press_sequentially("a")
    options = page.locator("#trade-form [role=listbox] [role=option]")
    expect(options).to_have_count(3)
    expect(options.first).to_contain_text("AAPL")
    expect(options.first).to_contain_text("Apple Inc.")
    expect(options.first).to_contain_text("190.12")
    expect(options.nth(2)).to_contain_text("no price yet")
    expect(box).to_have_attribute("aria-expanded", "true")
    assert asked[-1] == "a"

    box.press("ArrowDown")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    box.press("Enter")
    expect(box).to_have_value("AMZN")
    expect(box).to_have_attribute("aria-expanded", "false")
    assert page.url.endswith("/portfolio/")  # Enter took the suggestion, it sent nothing
    expect(page.locator("#trade-ticker-note")).to_contain_text("AMZN")


def test_a_suggestion_is_taken_with_a_click_and_escape_only_closes_the_list(page):
    sign_up(page, new_username())
    stub_suggestions(page)
    page.goto("/")
    box = page.locator("#add-ticker input[name=ticker]")
    box.press_sequentially("am")
    options = page.locator("#add-ticker [role=option]")
    expect(options).to_have_count(2)
    box.press("Escape")
    expect(page.locator("#add-ticker [role=listbox]")).to_be_hidden()
    expect(box).to_be_focused()
    box.press_sequentially("d")
    expect(options).to_have_count(1)
    options.first.click()
    expect(box).to_have_value("AMD")
    expect(box).to_be_focused()


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("BAD$", "A ticker is 1 to 10 letters, digits, '.' or '-'."),
        ("ZZZZ", "ZZZZ is not tracked, so it has no price: add it to a watchlist to trade it."),
        ("AMD", "No live price for AMD yet: a trade needs one."),
    ],
)
def test_the_trade_form_says_why_a_ticker_cannot_be_traded(page, typed, why):
    sign_up(page, new_username())
    stub_suggestions(page)
    page.goto("/portfolio/")
    page.locator("#trade-ticker").press_sequentially(typed)
    expect(page.locator("#trade-ticker-note")).to_be_hidden()  # nothing to warn about while typing
    page.locator("#trade-ticker").press("Tab")
    note = page.locator("#trade-ticker-note")
    expect(note).to_contain_text(why)
    expect(note).to_have_attribute("data-kind", "warn")


def test_the_trade_form_shows_the_last_price_of_a_tradable_ticker(page):
    sign_up(page, new_username())
    stub_suggestions(page)
    page.goto("/portfolio/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    page.locator("#trade-ticker").press_sequentially("msft")
    expect(page.locator("#trade-ticker-note")).to_contain_text("MSFT: last ")
    expect(page.locator("#trade-ticker-note")).to_have_attribute("data-kind", "info")
