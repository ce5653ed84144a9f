"""Trading while offline: forms go through fetch, a server that cannot be reached is an in-page message
(never the browser's error page), trading is paused while prices are not live and resumes by itself;
without scripts the forms are plain POSTs. The header says when the last price came, in local time."""

import itertools
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.support import screenshot, sign_up

pytestmark = pytest.mark.browser

_names = itertools.count(1)


def new_username() -> str:
    return f"offline{next(_names)}x{int(time.time()) % 100000}"


def wait_until_live(page, timeout: float = 10_000) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=timeout)


def fill_order(page, side: str, ticker: str, quantity: str) -> None:
    page.fill("#trade-ticker", ticker)
    page.fill("#trade-quantity", quantity)
    page.locator(f'label[for="side-{side}"]').click()


def test_a_trade_attempted_with_the_server_stopped_is_paused_in_the_page_and_works_once_it_is_back(
    page, server
):
    sign_up(page, new_username())
    page.goto("/portfolio/")
    wait_until_live(page)
    page.evaluate("window.__notReloaded = true")
    fill_order(page, "buy", "AAPL", "1")

    server.kill()
    button = page.locator("#trade-submit")
    expect(button).to_be_disabled(timeout=5_000)
    note = page.locator("#trade-form + [data-paused-note]")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Trading is paused")
    page.locator("#trade-quantity").press("Enter")
    expect(page.locator("#trade-form")).to_be_visible()
    assert page.evaluate("window.__notReloaded") is True  # still this page, not the browser's error page
    screenshot(page, "portfolio-offline.png")

    server.start()
    wait_until_live(page, timeout=15_000)
    expect(button).to_be_enabled()
    expect(note).to_be_hidden()
    expect(page.locator("#trade-quantity")).to_have_value("1")
    button.click()
    expect(page.locator(".messages")).to_contain_text("Bought 1 AAPL")


def test_an_order_that_cannot_reach_the_server_says_so_in_place_and_keeps_the_values(page):
    sign_up(page, new_username())
    page.goto("/portfolio/")
    wait_until_live(page)
    page.route("**/portfolio/trade/", lambda route: route.abort("connectionrefused"))
    fill_order(page, "buy", "MSFT", "2")
    page.locator("#trade-submit").click()
    expect(page.locator("#trade-error")).to_have_text(
        "Could not reach the server, so the order was not placed. Try again once the connection is back."
    )
    assert page.url.endswith("/portfolio/")
    expect(page.locator("#trade-quantity")).to_have_value("2")
    expect(page.locator("#side-buy")).to_be_checked()

    page.unroute("**/portfolio/trade/")
    page.locator("#trade-submit").click()
    expect(page.locator(".messages")).to_contain_text("Bought 2 MSFT")
    expect(page.locator("#trade-error")).to_be_hidden()


def test_a_refused_order_is_shown_in_place_without_leaving_the_page(page):
    sign_up(page, new_username())
    page.goto("/portfolio/")
    wait_until_live(page)
    page.evaluate("window.__notReloaded = true")
    fill_order(page, "sell", "GE", "1")
    page.locator("#trade-submit").click()
    expect(page.locator("#trade-error")).to_contain_text("You hold no GE")
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator("#trade-ticker")).to_have_value("GE")


def test_a_watchlist_form_refused_by_the_server_is_shown_in_its_panel(page):
    sign_up(page, new_username())
    page.goto("/watchlist/")
    wait_until_live(page)
    page.fill("#create-watchlist input[name=name]", "default")
    page.locator("#create-watchlist button").click()
    message = page.locator("section:has(#create-watchlist) [data-form-message]")
    expect(message).to_contain_text("already have a watchlist")
    page.fill("#create-watchlist input[name=name]", "Energy")
    page.locator("#create-watchlist button").click()
    expect(page.locator(".messages")).to_contain_text("Created watchlist Energy")
    expect(page.locator('section[data-watchlist-name="Energy"]')).to_have_count(1)


def test_without_scripts_the_forms_are_plain_posts_and_times_are_utc(browser, server):
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        sign_up(page, new_username())
        page.goto("/portfolio/")
        page.fill("#trade-ticker", "AAPL")
        page.fill("#trade-quantity", "1")
        page.locator('label[for="side-buy"]').click()
        page.locator("#trade-submit").click()
        expect(page.locator(".messages")).to_contain_text("Bought 1 AAPL")
        expect(page.locator("#trades time").first).to_have_text(
            re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
        )

        page.fill("#trade-ticker", "AAPL")
        page.fill("#trade-quantity", "1000000")
        page.locator('label[for="side-buy"]').click()
        page.locator("#trade-submit").click()
        expect(page.locator("#trade-error")).to_contain_text("Not enough cash")
        expect(page.locator("#trade-quantity")).to_have_value("1000000")
        page.reload()  # a plain GET: nothing to resubmit
        expect(page.locator("#trade-error")).to_be_hidden()
    finally:
        context.close()


def test_the_header_and_the_trade_history_show_local_times_with_utc_on_hover(browser, server):
    zone = "Asia/Kolkata"
    context = browser.new_context(base_url=server.url, timezone_id=zone)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        sign_up(page, new_username())
        page.goto("/portfolio/")
        wait_until_live(page)
        fill_order(page, "buy", "AAPL", "1")
        page.locator("#trade-submit").click()
        expect(page.locator(".messages")).to_contain_text("Bought 1 AAPL")
        wait_until_live(page)

        as_of = page.locator("#last-price")
        expect(as_of).to_be_visible()
        expect(as_of).to_contain_text(re.compile(r"^as of \d\d:\d\d:\d\d$"))
        clock = as_of.locator("time")
        moment = datetime.fromisoformat(clock.get_attribute("datetime").replace("Z", "+00:00"))
        expect(clock).to_have_text(moment.astimezone(ZoneInfo(zone)).strftime("%H:%M:%S"))

        shown = page.locator("#trades time").first
        utc = datetime.fromisoformat(shown.get_attribute("datetime").replace("Z", "+00:00"))
        expect(shown).to_have_text(utc.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S"))
        expect(shown).to_have_attribute("title", utc.strftime("%Y-%m-%d %H:%M:%S UTC"))
    finally:
        context.close()
