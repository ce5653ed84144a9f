"""The server-rendered pages: what they show, their forms, and a query count that does not grow."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from market.feed import Feed, get_feed, reset_feed
from market.seed_prices import DEFAULT_TICKERS
from market.simulator import SimulatorDataSource
from portfolio import selectors, services
from portfolio.models import Portfolio, Position, Trade, Watchlist, WatchlistEntry
from tests.portfolio_support import make_user, set_price, set_prices

pytestmark = pytest.mark.django_db

PRICES = {ticker: 100.0 + index for index, ticker in enumerate(DEFAULT_TICKERS)}


@pytest.fixture
def priced():
    """The default ten with a short history each, as a running source would leave them."""
    for step in range(5):
        set_prices({ticker: price + step for ticker, price in PRICES.items()})


@pytest.fixture
def user():
    return make_user("ada")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr class="quote" data-ticker="([^"]+)"', html)


def polyline_points(html: str, ticker: str) -> int:
    row = re.search(rf'<tr class="quote" data-ticker="{ticker}".*?</tr>', html, re.S).group(0)
    points = re.search(r'<polyline points="([^"]*)"', row).group(1)
    return len(points.split())


# The dashboard


def test_anonymous_dashboard_lists_the_default_ten_in_order(client, priced):
    response = client.get("/")
    assert response.status_code == 200
    assert rows_of(response.content.decode()) == list(DEFAULT_TICKERS)


def test_dashboard_shows_each_price_from_the_cache(client, priced):
    html = client.get("/").content.decode()
    aapl = re.search(r'data-ticker="AAPL".*?data-price>([^<]*)<', html, re.S).group(1)
    assert aapl == "104.00"


def test_dashboard_sparklines_are_drawn_from_the_cache_history(client, priced):
    html = client.get("/").content.decode()
    assert polyline_points(html, "MSFT") == 5


def test_dashboard_change_is_the_days_change_against_the_previous_close(client, priced):
    get_feed().cache.set_previous_closes({"AAPL": 105.0})  # AAPL stands at 104.00
    html = client.get("/").content.decode()
    row = re.search(r'<tr class="quote" data-ticker="AAPL".*?</tr>', html, re.S).group(0)
    assert re.search(r"data-change data-sign=\"down\">-1\.00<", row)
    assert re.search(r"data-change-percent data-sign=\"down\">-0\.95%<", row)


def test_dashboard_large_chart_header_shows_the_same_days_change_as_the_row(client, priced):
    get_feed().cache.set_previous_closes({"AAPL": 102.0})
    html = client.get("/").content.decode()
    assert re.search(r'data-focus-change data-sign="up">\+2\.00 \(\+1\.96%\)<', html)


def test_anonymous_dashboard_invites_the_visitor_to_log_in(client, priced):
    html = client.get("/").content.decode()
    assert 'id="add-ticker"' not in html
    assert "/accounts/login/" in html and "/accounts/signup/" in html


def test_dashboard_shows_the_users_default_watchlist(logged_in, user, priced):
    watchlist = selectors.default_watchlist(user)
    services.remove_from_watchlist(watchlist, "AAPL")
    services.add_to_watchlist(watchlist, "pypl")
    html = logged_in.get("/").content.decode()
    assert rows_of(html) == [t for t in DEFAULT_TICKERS if t != "AAPL"] + ["PYPL"]
    assert 'id="add-ticker"' in html


def test_dashboard_row_without_a_price_waits_for_one(logged_in, user, priced):
    services.add_to_watchlist(selectors.default_watchlist(user), "ZZZZ")
    html = logged_in.get("/").content.decode()
    row = re.search(
        r'<tr class="quote" data-ticker="ZZZZ" data-state="([a-z]+)".*?data-price>([^<]*)<', html, re.S
    )
    assert row.groups() == ("pending", "…")


def test_dashboard_marks_a_ticker_the_source_reports_unknown(logged_in, user, priced):
    services.add_to_watchlist(selectors.default_watchlist(user), "ZZZZ")

    class MassiveLike(SimulatorDataSource):
        def unknown_tickers(self):
            return {"ZZZZ"}

    reset_feed(Feed(cache=get_feed().cache, source_factory=MassiveLike))
    html = logged_in.get("/").content.decode()
    row = re.search(
        r'<tr class="quote" data-ticker="ZZZZ" data-state="([a-z]+)".*?data-price>([^<]*)<', html, re.S
    )
    assert row.groups() == ("unknown", "no price / unknown")


def test_dashboard_waits_two_source_intervals_for_a_first_price(logged_in, priced):
    get_feed().source.interval = 15.0  # Massive's default poll
    html = logged_in.get("/").content.decode()
    assert 'data-no-price-after="31000"' in html


def test_header_shows_cash_and_total_value_with_live_prices(logged_in, user, priced):
    services.execute_trade(user, "AAPL", "buy", "10")
    html = logged_in.get("/").content.decode()
    header = html[html.index('<div id="account"') : html.index("</header>")]
    assert 'data-cash="8960.00"' in header
    assert "$10,000.00" in header  # 8,960.00 cash + 10 x 104.00
    assert '"ticker": "AAPL", "quantity": "10.000000"' in html


def test_every_page_has_the_connection_indicator(logged_in, priced):
    for path in ("/", "/portfolio/", "/watchlist/"):
        assert 'id="connection"' in logged_in.get(path).content.decode()


# Login required


@pytest.mark.parametrize("path", ["/portfolio/", "/watchlist/"])
def test_pages_of_a_user_require_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_trading_requires_login(client, priced):
    response = client.post("/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "1"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Trade.objects.exists()


# The portfolio page and its trade form


def test_portfolio_shows_positions_at_live_prices(logged_in, user, priced):
    services.execute_trade(user, "AAPL", "buy", "10")
    set_price("AAPL", 110.0)
    html = logged_in.get("/portfolio/").content.decode()
    row = re.search(r'<tr data-ticker="AAPL".*?</tr>', html, re.S).group(0)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells == ["AAPL", "10", "104.00", "110.00", "$1,100.00", "+$60.00", "+5.77%"]


def test_portfolio_shows_cash_and_total_value(logged_in, user, priced):
    services.execute_trade(user, "AAPL", "buy", "10")
    set_price("AAPL", 110.0)
    html = logged_in.get("/portfolio/").content.decode()
    assert re.search(r'data-summary="total">\$10,060\.00<', html)
    assert re.search(r'data-summary="cash">\$8,960\.00<', html)


def test_trade_form_buys_and_redirects_with_a_message(logged_in, user, priced):
    response = logged_in.post("/portfolio/trade/", {"ticker": "aapl", "side": "buy", "quantity": "2.5"})
    assert response.status_code == 302
    assert response["Location"] == "/portfolio/"
    assert Position.objects.get(portfolio__user=user, ticker="AAPL").quantity == Decimal("2.5")
    html = logged_in.get("/portfolio/").content.decode()
    assert "Bought 2.5 AAPL at $104.00 ($260.00)." in html


def test_refused_trade_is_shown_in_place_and_keeps_the_input(logged_in, user, priced):
    response = logged_in.post("/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "1000"})
    assert response.status_code == 200  # re-rendered with the refusal in place, as Django forms do
    html = response.content.decode()
    assert re.search(r'id="trade-error"[^>]*>Not enough cash', html)
    assert 'name="ticker" value="AAPL"' in html and 'name="quantity" value="1000"' in html
    assert Portfolio.objects.get(user=user).cash == Decimal("10000.00")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"ticker": "AAPL", "side": "buy", "quantity": "abc"}, "is not a number"),
        ({"ticker": "AAPL", "side": "hold", "quantity": "1"}, "Side must be"),
        ({"ticker": "NO WAY", "side": "buy", "quantity": "1"}, "not valid"),
        ({"ticker": "AAPL", "side": "sell", "quantity": "1"}, "Not enough shares"),
        ({"ticker": "AAPL", "side": "buy", "quantity": "0.0000001"}, "decimal places"),
    ],
)
def test_every_refusal_reaches_the_trade_form(logged_in, priced, form, message):
    response = logged_in.post("/portfolio/trade/", form)
    assert response.status_code == 200  # re-rendered with the refusal in place, as Django forms do
    assert message in response.content.decode()
    assert not Trade.objects.exists()


def test_trade_form_only_accepts_post(logged_in):
    assert logged_in.get("/portfolio/trade/").status_code == 405


def test_trade_form_is_csrf_protected(user, priced):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "1"})
    assert response.status_code == 403
    assert not Trade.objects.exists()


def test_trade_history_shows_the_realized_pnl_of_a_sell(logged_in, user, priced):
    services.execute_trade(user, "AAPL", "buy", "10")
    set_price("AAPL", 110.0)
    logged_in.post("/portfolio/trade/", {"ticker": "AAPL", "side": "sell", "quantity": "4"})
    html = logged_in.get("/portfolio/").content.decode()
    sell = re.search(r'<tr data-trade-side="sell" data-ticker="AAPL">.*?</tr>', html, re.S).group(0)
    assert re.search(r"data-realized-pnl data-sign=\"up\">\+\$24\.00<", sell)


def test_value_chart_is_drawn_from_recorded_snapshots(logged_in, user, priced):
    services.execute_trade(user, "AAPL", "buy", "1")
    services.record_value_snapshots()
    html = logged_in.get("/portfolio/").content.decode()
    points = re.search(r'id="value-chart".*?<polyline points="([^"]*)"', html, re.S).group(1)
    assert len(points.split()) == 3  # after the trade, the periodic one, and now


def test_heatmap_has_a_tile_per_position(logged_in, user, priced):
    for ticker in ("AAPL", "MSFT", "NVDA"):
        services.execute_trade(user, ticker, "buy", "1")
    html = logged_in.get("/portfolio/").content.decode()
    assert re.findall(r'<div class="tile" data-ticker="([A-Z]+)"', html) == ["AAPL", "MSFT", "NVDA"]


# The watchlists page and its POST forms


def test_watchlist_form_adds_a_ticker_to_the_default_watchlist(logged_in, user):
    response = logged_in.post("/watchlist/", {"action": "add", "ticker": " pypl "})
    assert response.status_code == 302
    assert WatchlistEntry.objects.filter(
        watchlist__user=user, watchlist__is_default=True, ticker="PYPL"
    ).exists()


def test_watchlist_post_with_only_a_ticker_adds_it(logged_in, user):
    logged_in.post("/watchlist/", {"ticker": "ORCL"})
    assert WatchlistEntry.objects.filter(watchlist__user=user, ticker="ORCL").exists()


def test_watchlist_form_removes_a_ticker(logged_in, user):
    response = logged_in.post("/watchlist/", {"action": "remove", "ticker": "aapl"})
    assert response.status_code == 302
    assert not WatchlistEntry.objects.filter(watchlist__user=user, ticker="AAPL").exists()


def test_watchlist_add_and_remove_urls_work_too(logged_in, user):
    logged_in.post("/watchlist/add/", {"ticker": "ORCL"})
    assert WatchlistEntry.objects.filter(watchlist__user=user, ticker="ORCL").exists()
    logged_in.post("/watchlist/remove/", {"ticker": "ORCL"})
    assert not WatchlistEntry.objects.filter(watchlist__user=user, ticker="ORCL").exists()


def test_invalid_ticker_is_refused_in_place_and_keeps_the_input(logged_in, user):
    response = logged_in.post("/watchlist/", {"action": "add", "ticker": "BAD$"})
    assert response.status_code == 200  # re-rendered with the refusal in place, as Django forms do
    html = response.content.decode()
    assert "is not valid" in html
    assert 'value="BAD$"' in html
    assert WatchlistEntry.objects.filter(watchlist__user=user).count() == len(DEFAULT_TICKERS)


def test_watchlist_form_follows_a_safe_next_only(logged_in):
    assert logged_in.post("/watchlist/", {"ticker": "ORCL", "next": "/"})["Location"] == "/"
    assert logged_in.post("/watchlist/", {"ticker": "IBM", "next": "https://evil.example/"})["Location"] == (
        "/watchlist/"
    )


def test_watchlists_can_be_created_renamed_and_deleted(logged_in, user):
    logged_in.post("/watchlist/", {"action": "create", "name": "Energy"})
    energy = Watchlist.objects.get(user=user, name="Energy")
    logged_in.post("/watchlist/", {"action": "add", "watchlist": energy.pk, "ticker": "XOM"})
    assert list(energy.entries.values_list("ticker", flat=True)) == ["XOM"]
    logged_in.post("/watchlist/", {"action": "rename", "watchlist": energy.pk, "name": "Oil"})
    energy.refresh_from_db()
    assert energy.name == "Oil"
    logged_in.post("/watchlist/", {"action": "delete", "watchlist": energy.pk})
    assert not Watchlist.objects.filter(pk=energy.pk).exists()


def test_the_default_watchlist_cannot_be_deleted(logged_in, user):
    default = selectors.default_watchlist(user)
    response = logged_in.post("/watchlist/", {"action": "delete", "watchlist": default.pk})
    assert response.status_code == 200  # re-rendered with the refusal in place, as Django forms do
    assert "cannot be deleted" in response.content.decode()
    assert Watchlist.objects.filter(pk=default.pk).exists()


def test_watchlist_forms_cannot_touch_another_users_watchlist(logged_in):
    other = selectors.default_watchlist(make_user("grace"))
    response = logged_in.post("/watchlist/", {"action": "remove", "watchlist": other.pk, "ticker": "AAPL"})
    assert response.status_code == 404
    assert other.entries.filter(ticker="AAPL").exists()


def test_watchlists_page_lists_every_watchlist_with_prices(logged_in, user, priced):
    services.create_watchlist(user, "Energy")
    html = logged_in.get("/watchlist/").content.decode()
    assert re.findall(r'data-watchlist-name="([^"]+)"', html) == ["Default", "Energy"]
    assert re.search(r'data-live-price="AAPL">104\.00<', html)


# Queries do not grow with positions or entries


def count_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def fill(user, count: int) -> None:
    """``count`` positions and ``count`` extra watchlist entries for ``user``, each ticker priced."""
    portfolio = selectors.portfolio_for(user)
    watchlist = selectors.default_watchlist(user)
    tickers = [f"T{index:03d}" for index in range(count)]
    set_prices(dict.fromkeys(tickers, 50.0))
    Position.objects.bulk_create(
        Position(portfolio=portfolio, ticker=t, quantity=Decimal(1), avg_cost=Decimal(40)) for t in tickers
    )
    WatchlistEntry.objects.bulk_create(WatchlistEntry(watchlist=watchlist, ticker=t) for t in tickers)
    for ticker in tickers[:3]:
        services.execute_trade(user, ticker, "buy", "1")


@pytest.mark.parametrize("path", ["/", "/portfolio/", "/watchlist/"])
def test_page_queries_do_not_grow_with_positions_and_entries(client, priced, path):
    few, many = make_user("few"), make_user("many")
    fill(few, 1)
    fill(many, 30)
    client.force_login(few)
    count_queries(client, path)  # a first request may set up the session
    baseline = count_queries(client, path)
    client.force_login(many)
    count_queries(client, path)
    assert count_queries(client, path) == baseline


def test_value_chart_does_not_magnify_cents_into_a_crash(logged_in, user, priced):
    services.execute_trade(user, "AAPL", "buy", "1")
    set_price("AAPL", 103.9)  # ten cents down on $10,000
    html = logged_in.get("/portfolio/").content.decode()
    assert re.search(r"data-chart-high>\$10,009\.\d\d<", html)
    assert re.search(r"data-chart-low>\$9,989\.\d\d<", html)
