"""/api/docs/ in a real Chromium, under the site's strict Content-Security-Policy: Swagger UI (served by
this server) lists every operation, runs them with the session and CSRF token, and logs no error."""

import pytest
from playwright.sync_api import expect

from tests.browser.support import SUPERUSER, log_in, screenshot

pytestmark = pytest.mark.browser

OPERATIONS = [
    "GET /api/portfolio/",
    "POST /api/portfolio/trade/",
    "GET /api/portfolio/history/",
    "GET /api/watchlist/",
    "POST /api/watchlist/",
    "DELETE /api/watchlist/{ticker}/",
    "GET /api/tickers/",
    "GET /api/orders/",
    "POST /api/orders/",
    "GET /api/orders/{id}/",
    "DELETE /api/orders/{id}/",
    "GET /api/history/{ticker}/",
]


@pytest.fixture
def docs_page(browser, csp_server):
    """A logged-in page that records every console error (CSP violations are console errors)."""
    context = browser.new_context(base_url=csp_server.url, viewport={"width": 1360, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    log_in(page, SUPERUSER["username"], SUPERUSER["password"])
    yield page
    context.close()


def open_docs(page):
    response = page.goto("/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".opblock").first).to_be_visible()


def operation(page, operation_id: str):
    block = page.locator(f"[id$='-{operation_id}']")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    return block


def test_the_docs_list_every_operation_without_console_errors(docs_page):
    open_docs(docs_page)
    listed = [
        " ".join(text.split())
        for text in docs_page.locator(".opblock-summary-method, .opblock-summary-path").all_inner_texts()
    ]
    assert [f"{method} {path}" for method, path in zip(listed[::2], listed[1::2], strict=True)] == OPERATIONS
    screenshot(docs_page, "api-docs.png")
    assert not docs_page.console_errors


def test_the_docs_run_a_get_and_a_post_with_the_session_and_csrf_token(docs_page):
    open_docs(docs_page)
    portfolio = operation(docs_page, "portfolio_api_portfolio_portfolio")
    portfolio.get_by_role("button", name="Execute").click()
    expect(portfolio.locator(".live-responses-table .response .response-col_status")).to_have_text("200")

    trade = operation(docs_page, "portfolio_api_portfolio_trade")
    trade.locator("textarea.body-param__text").fill('{"ticker": "AAPL", "side": "buy", "quantity": 1}')
    trade.get_by_role("button", name="Execute").click()
    expect(trade.locator(".live-responses-table .response .response-col_status")).to_have_text("200")
    expect(trade.locator(".live-responses-table .microlight").first).to_contain_text('"cash_after"')
    assert not docs_page.console_errors
