"""Every page on a phone (390x844), a tablet (820x1180) and a desktop (1440x900), and by keyboard:
nothing wider than the page, no console errors, no axe-core findings, screenshots of each for a person
to look at (artifacts/<page>-<size>.png)."""

import itertools
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.support import SUPERUSER, log_in, screenshot, sign_up

pytestmark = pytest.mark.browser

SIZES = {"phone": (390, 844), "tablet": (820, 1180), "desktop": (1440, 900)}
PAGES = {
    "dashboard": "/",
    "portfolio": "/portfolio/",
    "watchlist": "/watchlist/",
    "login": "/accounts/login/",
    "signup": "/accounts/signup/",
    "admin": "/admin/",
    "admin-portfolios": "/admin/portfolio/portfolio/",
}
ANONYMOUS = {"login", "signup"}
STREAMING = {"dashboard", "portfolio", "watchlist", "login", "signup"}
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"

_names = itertools.count(1)


def new_username() -> str:
    return f"keys{next(_names)}x{int(time.time()) % 100000}"


def wait_until_live(page, timeout: float = 10_000) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=timeout)


def overflow(page) -> tuple[int, int]:
    return page.evaluate("[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")


# Tables whose header row is not above their first row (a sticky header misplaced inside a scroller).
MISPLACED_HEADERS = """() => [...document.querySelectorAll("main table.data")].filter((table) => {
  const head = table.tHead && table.tHead.rows[0] && table.tHead.rows[0].cells[0];
  const first = table.tBodies[0] && table.tBodies[0].rows[0];
  if (!head || !first || getComputedStyle(table.tHead).position === "absolute") return false;
  return head.getBoundingClientRect().bottom > first.getBoundingClientRect().top + 1;
}).map((table) => table.id || table.className)"""


def console_errors(page) -> list[str]:
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def hold(page, ticker: str, quantity: str) -> None:
    """Buy ``quantity`` ``ticker`` through the trade form (the page must be /portfolio/)."""
    wait_until_live(page)
    page.fill("#trade-ticker", ticker)
    page.fill("#trade-quantity", quantity)
    page.locator('label[for="side-buy"]').click()
    page.locator("#trade-submit").click()
    expect(page.locator(".messages")).to_contain_text(f"Bought {quantity} {ticker}")


@pytest.mark.parametrize("size", SIZES)
def test_every_page_fits_the_screen_without_console_errors(browser, server, size):
    width, height = SIZES[size]
    staff = browser.new_context(base_url=server.url, viewport={"width": width, "height": height})
    visitor = browser.new_context(base_url=server.url, viewport={"width": width, "height": height})
    staff.set_default_timeout(10_000)
    visitor.set_default_timeout(10_000)
    try:
        page, anonymous = staff.new_page(), visitor.new_page()
        errors = console_errors(page) + console_errors(anonymous)
        log_in(page, SUPERUSER["username"], SUPERUSER["password"])
        page.goto("/portfolio/")
        if page.locator('#positions tr[data-ticker="NVDA"]').count() == 0:
            hold(page, "NVDA", "2.5")
            hold(page, "AAPL", "10")
        for name, path in PAGES.items():
            tab = anonymous if name in ANONYMOUS else page
            tab.goto(path)
            if name in STREAMING:
                wait_until_live(tab)
            screenshot(tab, f"{name}-{size}.png")
            scroll_width, client_width = overflow(tab)
            assert scroll_width <= client_width, f"{path}: {scroll_width} px on a {client_width} px {size}"
            assert tab.evaluate(MISPLACED_HEADERS) == [], f"{path}: a table's header covers its rows"
        assert errors == [], f"console errors: {errors}"
    finally:
        staff.close()
        visitor.close()


@pytest.mark.parametrize("size", SIZES)
def test_the_trade_form_keeps_buy_and_sell_together_and_comes_before_the_history(browser, server, size):
    width, height = SIZES[size]
    context = browser.new_context(base_url=server.url, viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        sign_up(page, new_username())
        page.goto("/portfolio/")
        hold(page, "AAPL", "1")
        # Both boxes in one layout: read one at a time, a live update between them could move the page.
        buy, sell = page.evaluate(
            """() => ['side-buy', 'side-sell'].map((id) => {
                 const box = document.querySelector(`label[for="${id}"]`).getBoundingClientRect();
                 return { x: box.x, y: box.y };
               })"""
        )
        assert buy["y"] == sell["y"] and sell["x"] > buy["x"], f"Sell wrapped under Buy: {buy} {sell}"
        order = page.locator("#trade-submit").bounding_box()
        ticker = page.locator("#trade-ticker").bounding_box()
        assert order["x"] + order["width"] <= width and ticker["x"] + ticker["width"] <= width
        trade = page.locator("#trade").bounding_box()
        history = page.locator("#trades").bounding_box()
        if size != "desktop":
            assert trade["y"] < history["y"], "the trade form is below the trade history"
        assert trade["y"] < height * 1.5, f"the trade form starts at {trade['y']} px"
    finally:
        context.close()


def test_pages_have_no_accessibility_findings(browser, server):
    """axe-core (vendored for the tests) on every page, on a desktop and on a phone."""
    script = AXE.read_text()
    for width, height in (SIZES["desktop"], SIZES["phone"]):
        # The test injects axe itself, an inline script the site's Content-Security-Policy refuses.
        context = browser.new_context(
            base_url=server.url, viewport={"width": width, "height": height}, bypass_csp=True
        )
        context.set_default_timeout(10_000)
        try:
            page = context.new_page()
            for path in ("/", "/accounts/login/", "/accounts/signup/"):
                page.goto(path)
                wait_until_live(page)
                page.add_script_tag(content=script)
                assert axe_findings(page) == [], path
            sign_up(page, new_username())
            for path in ("/", "/portfolio/", "/watchlist/", "/accounts/logout/"):
                page.goto(path)
                wait_until_live(page)
                page.add_script_tag(content=script)
                assert axe_findings(page) == [], path
        finally:
            context.close()


def axe_findings(page) -> list:
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
             .map((v) => [v.id, v.nodes.map((n) => n.target.join(" "))])"""
    )


def focused_ticker(page) -> str | None:
    return page.evaluate("(document.activeElement.dataset || {}).ticker || null")


def test_the_keyboard_moves_between_watchlist_rows_charts_one_and_opens_its_order_ticket(page):
    sign_up(page, new_username())
    page.goto("/")
    wait_until_live(page)
    page.keyboard.press("/")
    expect(page.locator("#add-ticker input[name=ticker]")).to_be_focused()
    expect(page.locator("#add-ticker input[name=ticker]")).to_have_value("")

    page.keyboard.press("Tab")  # the Add button
    page.keyboard.press("Tab")  # the watchlist: one tab stop, its selected row
    assert focused_ticker(page) == "AAPL"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert focused_ticker(page) == "MSFT"
    page.keyboard.press("ArrowUp")
    assert focused_ticker(page) == "GOOGL"
    page.keyboard.press("Enter")
    expect(page.locator("#focus")).to_have_attribute("data-ticker", "GOOGL")
    expect(page.locator("[data-focus-ticker]")).to_have_text("GOOGL")

    page.keyboard.press("s")  # the order ticket beside the chart, for that row, Sell chosen
    expect(page.locator("#ticket-ticker")).to_have_value("GOOGL")
    expect(page.locator('#order-ticket [data-side="sell"]')).to_have_attribute("aria-checked", "true")
    expect(page.locator("#ticket-quantity")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#ticket-quantity")).not_to_be_focused()
    assert focused_ticker(page) == "GOOGL"  # back to the row it came from


def test_the_keyboard_opens_the_order_ticket_for_a_position_and_escape_goes_back(page):
    sign_up(page, new_username())
    page.goto("/portfolio/")
    hold(page, "AAPL", "3")
    hold(page, "MSFT", "1")
    wait_until_live(page)
    page.locator('#positions tr[data-ticker="AAPL"]').focus()
    page.keyboard.press("ArrowDown")
    assert focused_ticker(page) == "MSFT"
    page.keyboard.press("b")
    expect(page.locator("#ticket-ticker")).to_have_value("MSFT")
    expect(page.locator('#order-ticket [data-side="buy"]')).to_have_attribute("aria-checked", "true")
    expect(page.locator("#ticket-quantity")).to_be_focused()
    page.keyboard.press("Escape")
    assert focused_ticker(page) == "MSFT"
    page.keyboard.press("s")
    expect(page.locator('#order-ticket [data-side="sell"]')).to_have_attribute("aria-checked", "true")
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    expect(page.locator("#ticket-ticker")).to_be_focused()

    page.locator('#positions tr[data-ticker="MSFT"]').focus()
    page.keyboard.press("Enter")  # charts it on the Markets page
    page.wait_for_url("**/?ticker=MSFT")
    expect(page.locator("#focus")).to_have_attribute("data-ticker", "MSFT")


def test_enter_in_the_quantity_box_never_places_an_order_of_a_side_not_chosen(page):
    sign_up(page, new_username())
    page.goto("/portfolio/")
    wait_until_live(page)
    page.fill("#trade-ticker", "AAPL")
    page.fill("#trade-quantity", "1")
    page.locator("#trade-quantity").press("Enter")
    assert page.evaluate("document.getElementById('side-buy').validity.valueMissing")
    page.goto("/portfolio/")
    expect(page.locator("#trades tbody tr")).to_have_count(0)
    expect(page.locator(".messages")).to_have_count(0)
