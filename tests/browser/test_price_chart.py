"""The dashboard's large chart and the portfolio's value chart, in Chromium against a real server:
ranges, switching range loads bars from the history endpoint, candles or a line, the current bar
moving live, the previous close as a line, no console errors, under the site's CSP where it has one."""

import pytest
from playwright.sync_api import expect

from tests.browser.support import screenshot, sign_up

pytestmark = pytest.mark.browser

CHART = "#price-chart"


def console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def chart_ready(page, **attributes) -> None:
    chart = page.locator(CHART)
    expect(chart).to_have_attribute("data-state", "ready")
    for name, value in attributes.items():
        expect(chart).to_have_attribute(f"data-{name}", value)


def test_the_large_chart_shows_every_range_and_the_first_rows_bars(page, server):
    errors = console_errors(page)
    page.goto("/")
    chart = page.locator(CHART)
    for name in ("1H", "1D", "5D", "1M", "6M", "1Y"):
        expect(chart.locator(f'button[data-range="{name}"]')).to_be_visible()
    chart_ready(page, ticker="AAPL", range="1D", interval="5m")
    assert int(chart.get_attribute("data-bars")) >= 1
    expect(chart.locator('button[data-range="1D"]')).to_have_attribute("aria-pressed", "true")
    expect(chart.locator("canvas").first).to_be_visible()
    expect(page.locator("#focus .chart-wrap")).to_be_hidden()  # the server-drawn line steps aside
    attribution = chart.locator("a.pchart-attribution")  # the licence's notice and link
    expect(attribution).to_have_attribute("href", "https://www.tradingview.com/")
    expect(attribution).to_contain_text("TradingView")
    screenshot(page, "price-chart.png")
    assert errors == []


def test_switching_range_loads_its_bars_from_the_history_endpoint(page, server):
    page.goto("/")
    chart_ready(page, ticker="AAPL")
    with page.expect_response(lambda r: "/api/history/AAPL/" in r.url and "range=1H" in r.url) as answer:
        page.locator(f'{CHART} button[data-range="1H"]').click()
    assert answer.value.status == 200
    chart_ready(page, range="1H", interval="1m")
    with page.expect_response(lambda r: "/api/history/AAPL/" in r.url and "range=1Y" in r.url):
        page.locator(f'{CHART} button[data-range="1Y"]').click()
    chart_ready(page, range="1Y", interval="1d")
    assert int(page.locator(CHART).get_attribute("data-bars")) >= 1  # today's bar, from today's minutes


def test_the_current_bar_moves_live_with_the_stream(page, server):
    page.goto("/")
    chart_ready(page, ticker="AAPL", range="1D")
    first = page.locator(CHART).get_attribute("data-last-close")
    page.wait_for_function(
        f"document.querySelector('{CHART}').dataset.lastClose !== {first!r}", timeout=10_000
    )


def test_selecting_a_row_charts_that_ticker(page, server):
    page.goto("/")
    chart_ready(page, ticker="AAPL")
    with page.expect_response(lambda r: "/api/history/MSFT/" in r.url):
        page.locator('#watchlist tr.quote[data-ticker="MSFT"] td.ticker').click()
    chart_ready(page, ticker="MSFT")


def test_the_chart_toggles_between_candles_and_a_line(page, server):
    page.goto("/")
    chart_ready(page, type="candles")
    page.locator(f'{CHART} button[data-type="line"]').click()
    chart_ready(page, type="line")
    expect(page.locator(f'{CHART} button[data-type="line"]')).to_have_attribute("aria-pressed", "true")
    page.locator(f'{CHART} button[data-type="candles"]').click()
    chart_ready(page, type="candles")


def test_the_crosshair_shows_the_bars_ohlc(page, server):
    page.goto("/")
    chart_ready(page)
    box = page.locator(f"{CHART} .pchart-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    expect(page.locator(f"{CHART} [data-legend]")).to_contain_text("O ")
    expect(page.locator(f"{CHART} [data-legend]")).to_contain_text(" C ")


def test_the_value_chart_has_ranges_that_load_the_value_series(page, server):
    errors = console_errors(page)
    sign_up(page, "chartist")
    page.goto("/portfolio/")
    chart = page.locator("#value-chart-ranges")
    expect(chart).to_have_attribute("data-state", "ready")
    for name in ("1D", "5D", "1M", "6M", "1Y"):
        expect(chart.locator(f'button[data-range="{name}"]')).to_be_visible()
    with page.expect_response(lambda r: "/api/portfolio/history/" in r.url and "range=1M" in r.url):
        chart.locator('button[data-range="1M"]').click()
    expect(chart).to_have_attribute("data-range", "1M")
    expect(chart).to_have_attribute("data-state", "ready")
    assert int(chart.get_attribute("data-points")) >= 1
    screenshot(page, "value-chart.png")
    assert errors == []


def test_the_chart_runs_under_a_strict_content_security_policy(browser, csp_server):
    context = browser.new_context(base_url=csp_server.url, viewport={"width": 1360, "height": 860})
    try:
        page = context.new_page()
        errors = console_errors(page)
        response = page.goto("/")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        chart_ready(page, ticker="AAPL")
        page.locator(f'{CHART} button[data-range="5D"]').click()
        chart_ready(page, range="5D", interval="30m")
        assert errors == []
    finally:
        context.close()
