"""The pages in a real browser against a real server: live prices, trading, watchlists, recovery."""

import itertools
import json
import re
import time

import pytest
from playwright.sync_api import expect

from market.seed_prices import DEFAULT_TICKERS
from tests.browser.support import SUPERUSER, log_in, screenshot, sign_up

pytestmark = pytest.mark.browser

_names = itertools.count(1)

# Counts every flash the page shows (a class added to a cell), so a test can tell they happened.
COUNT_FLASHES = """
window.__flashes = 0;
new MutationObserver((records) => {
  for (const record of records) {
    const classes = record.target.classList;
    if (classes && (classes.contains("flash-up") || classes.contains("flash-down"))) window.__flashes += 1;
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["class"]});
"""

# Records which dashboard rows showed a new price since it was installed.
WATCH_PRICES = """
() => {
  window.__moved = new Set();
  for (const cell of document.querySelectorAll("#watchlist tbody tr.quote [data-price]")) {
    let shown = cell.textContent;
    new MutationObserver(() => {
      if (cell.textContent !== shown) window.__moved.add(cell.closest("tr").dataset.ticker);
      shown = cell.textContent;
    }).observe(cell, {childList: true, characterData: true, subtree: true});
  }
}
"""


def new_username() -> str:
    return f"trader{next(_names)}x{int(time.time()) % 100000}"


def wait_until_live(page, timeout: float = 10_000) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=timeout)


def wait_for_every_price_to_move(page, timeout: float) -> None:
    """Wait until every dashboard row has shown a new price at least once."""
    rows = page.locator("#watchlist tbody tr.quote").count()
    page.evaluate(WATCH_PRICES)
    page.wait_for_function(f"window.__moved.size >= {rows}", timeout=timeout)


def place_order(page, side: str, ticker: str, quantity: str) -> None:
    """Fill the trade form, choose the side, place the order."""
    page.fill("#trade-ticker", ticker)
    page.fill("#trade-quantity", quantity)
    page.locator(f'#trade-form label[for="side-{side}"]').click()
    page.locator("#trade-submit").click()


def cash_shown(page) -> float:
    return float(re.sub(r"[$,]", "", page.locator("[data-summary=cash]").inner_text()))


def test_a_fresh_visitor_sees_ten_live_prices_with_flashes_and_filled_sparklines(page, server):
    page.add_init_script(COUNT_FLASHES)
    page.goto("/")
    rows = page.locator("#watchlist tbody tr.quote")
    expect(rows).to_have_count(10)
    first_paint = [
        int(n) for n in rows.locator("svg.sparkline").evaluate_all("s => s.map(e => e.dataset.points)")
    ]
    assert min(first_paint) >= 8, f"sparklines are not filled on first paint: {first_paint}"
    wait_until_live(page)

    wait_for_every_price_to_move(page, timeout=2_000)

    assert page.evaluate("window.__flashes") > 0
    grown = rows.locator("svg.sparkline").evaluate_all("s => s.map(e => Number(e.dataset.points))")
    assert min(grown) >= min(first_paint)
    screenshot(page, "dashboard.png")


def test_sign_up_buy_and_sell_shows_the_position_cash_and_realized_pnl(page):
    sign_up(page, new_username())
    page.goto("/portfolio/")
    assert cash_shown(page) == 10_000.0

    place_order(page, "buy", "aapl", "5")
    page.wait_for_url("**/portfolio/")
    expect(page.locator(".messages")).to_contain_text("Bought 5 AAPL")
    position = page.locator('#positions tbody tr[data-ticker="AAPL"]')
    expect(position.locator("td").nth(1)).to_have_text("5")
    cash_after_buy = cash_shown(page)
    assert cash_after_buy < 10_000.0
    wait_until_live(page)
    expect(page.locator('#heatmap .tile[data-ticker="AAPL"]')).to_be_visible()

    place_order(page, "sell", "AAPL", "2")
    page.wait_for_url("**/portfolio/")
    expect(page.locator(".messages")).to_contain_text("Sold 2 AAPL")
    expect(position.locator("td").nth(1)).to_have_text("3")
    assert cash_shown(page) > cash_after_buy
    sell = page.locator('#trades tr[data-trade-side="sell"][data-ticker="AAPL"] [data-realized-pnl]')
    expect(sell).to_have_text(re.compile(r"^[+-]?\$\d+\.\d\d$"))

    place_order(page, "buy", "AAPL", "1000000")
    expect(page.locator("#trade-error")).to_contain_text("Not enough cash")
    expect(page.locator("#trade-quantity")).to_have_value("1000000")
    page.goto("/portfolio/")
    wait_until_live(page)
    screenshot(page, "portfolio.png")


def test_dashboard_adds_and_removes_a_ticker_and_explains_an_invalid_one(page):
    sign_up(page, new_username())
    page.goto("/")
    wait_until_live(page)
    rows = page.locator("#watchlist tbody tr.quote")
    expect(rows).to_have_count(10)

    page.fill("#add-ticker input[name=ticker]", " pypl ")
    page.locator("#add-ticker button").click()
    added = page.locator('#watchlist tr[data-ticker="PYPL"]')
    expect(added).to_have_attribute("data-state", "priced")
    expect(rows).to_have_count(11)

    page.fill("#add-ticker input[name=ticker]", "BAD$")
    page.locator("#add-ticker button").click()
    expect(page.locator("#watchlist-message")).to_contain_text("not valid")
    expect(rows).to_have_count(11)

    added.locator("button[data-remove]").click()
    expect(added).to_have_count(0)
    page.reload()
    expect(rows).to_have_count(10)
    expect(page.locator('#watchlist tr[data-ticker="PYPL"]')).to_have_count(0)


# Frames a server should never send, each once: the stream client must skip them without a script error.
UNREADABLE_FRAMES = [
    "not json",
    "null",
    "42",
    '"text"',
    "[]",
    "{}",
    '{"type": 7}',
    '{"type": "update", "prices": null}',
    '{"type": "state"}',
    '{"type": "prices", "prices": {"AAPL": null, "MSFT": {"price": "high"}, "NVDA": 5}}',
    '{"type": "prices", "prices": "AAPL"}',
    '{"type": "snapshot", "prices": {"AAPL": {}}, "history": {"AAPL": 3, "MSFT": [null, [1, "x"]]}}',
    '{"type": "watchlist", "tickers": "AAPL"}',
    json.dumps({"type": "watchlist", "tickers": [None, 5, "", {}, *DEFAULT_TICKERS]}),
    '{"type": "trade"}',
    '{"type": "status"}',
]


def console_errors(page) -> list[str]:
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def test_the_stream_client_skips_frames_it_cannot_read_and_keeps_pricing(page):
    errors = console_errors(page)
    sign_up(page, new_username())
    page.goto("/")
    wait_until_live(page)
    for frame in UNREADABLE_FRAMES:
        page.evaluate("frame => FinAlly.stream.receive(frame)", frame)

    assert errors == []
    expect(page.locator("#watchlist tbody tr.quote")).to_have_count(10)
    wait_until_live(page)
    wait_for_every_price_to_move(page, timeout=5_000)


def test_every_page_loads_without_console_errors(page):
    errors = console_errors(page)
    for path in ("/", "/accounts/login/", "/accounts/signup/"):
        page.goto(path)
        wait_until_live(page)
    sign_up(page, new_username())
    for path in ("/", "/portfolio/", "/watchlist/", "/accounts/logout/"):
        page.goto(path)
        wait_until_live(page)
    assert errors == [], f"console errors: {errors}"


def test_an_admin_edit_appears_on_an_open_dashboard_without_reload(context):
    dashboard = context.new_page()
    log_in(dashboard, SUPERUSER["username"], SUPERUSER["password"])
    dashboard.goto("/")
    wait_until_live(dashboard)
    dashboard.evaluate("window.__notReloaded = true")
    watchlist_id = dashboard.locator("#watchlist").get_attribute("data-watchlist-id")

    admin = context.new_page()
    admin.goto(f"/admin/portfolio/watchlist/{watchlist_id}/change/")
    empty = admin.evaluate(
        """() => [...document.querySelectorAll('input[name$="-ticker"]')]
                 .find(input => !input.value && !input.name.includes("__prefix__")).name"""
    )
    admin.fill(f'input[name="{empty}"]', "ORCL")
    admin.locator('input[name="_continue"]').click()
    expect(admin.locator(".messagelist")).to_contain_text("changed successfully")

    expect(dashboard.locator('#watchlist tr[data-ticker="ORCL"]')).to_have_count(1)
    expect(dashboard.locator('#watchlist tr[data-ticker="ORCL"]')).to_have_attribute("data-state", "priced")
    assert dashboard.evaluate("window.__notReloaded") is True


def test_the_indicator_goes_red_when_the_server_dies_and_the_page_recovers_by_itself(page, server):
    page.goto("/")
    wait_until_live(page)
    indicator = page.locator("#connection")

    server.kill()
    expect(indicator).to_have_attribute("data-state", "down", timeout=5_000)
    expect(indicator.locator(".dot")).to_have_css("background-color", "rgb(240, 82, 82)")
    price = page.locator("#watchlist tbody tr.quote [data-price]").first
    assert float(price.evaluate("e => getComputedStyle(e).opacity")) < 0.6, "prices shown as live while down"
    screenshot(page, "dashboard-disconnected.png")

    server.start()
    wait_until_live(page, timeout=15_000)
    expect(indicator.locator(".dot")).to_have_css("background-color", "rgb(34, 197, 94)")
    wait_for_every_price_to_move(page, timeout=5_000)
