"""The server-rendered pages: what they show, their forms, and a query count that does not grow."""

import json
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


def client_rules(html: str) -> dict:
    """The display rules a page hands its scripts (base.html's json_script block)."""
    block = re.search(r'<script id="finally-rules" type="application/json">(.*?)</script>', html)
    return json.loads(block.group(1))


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
    assert client_rules(html)["noPriceAfterMs"] == 31000


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


PAGES = ["/", "/portfolio/", "/watchlist/", "/accounts/login/", "/accounts/signup/", "/accounts/logout/"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_one_h1_a_description_and_the_display_rules(logged_in, priced, path):
    visitor = Client() if path in ("/accounts/login/", "/accounts/signup/") else logged_in
    html = visitor.get(path).content.decode()
    assert len(re.findall(r"<h1[ >]", html)) == 1
    assert re.search(r'<meta name="description" content="[^"]{40,}">', html)
    assert client_rules(html)["sparklinePoints"] == 120


def test_no_page_has_an_inline_style_attribute(logged_in, user, priced):
    services.execute_trade(user, "AAPL", "buy", "1")
    for path in PAGES:
        visitor = Client() if path in ("/accounts/login/", "/accounts/signup/") else logged_in
        assert " style=" not in visitor.get(path).content.decode(), path


def test_favicon_ico_serves_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert "max-age=86400" in response["Cache-Control"]


def test_trade_times_are_utc_for_the_page_script_to_localise(logged_in, user, priced):
    trade = services.execute_trade(user, "AAPL", "buy", "1")
    html = logged_in.get("/portfolio/").content.decode()
    utc = trade.executed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = trade.executed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f'<time datetime="{utc}" data-local="datetime">{shown}</time>' in html


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
    # +5.769%: percentages of P&L are rounded down, like every figure of gain
    assert cells == ["AAPL", "10", "104.00", "110.00", "$1,100.00", "+$60.00", "+5.76%"]


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


def test_refused_trade_redirects_and_shows_the_refusal_in_place_with_the_input(logged_in, user, priced):
    response = logged_in.post("/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "1000"})
    assert response.status_code == 302  # redirect after POST: a reload never offers to resubmit
    assert response["Location"] == "/portfolio/"
    html = logged_in.get(response["Location"]).content.decode()
    assert re.search(r'id="trade-error"[^>]*>Not enough cash', html)
    assert 'name="ticker" value="AAPL"' in html and 'name="quantity" value="1000"' in html
    assert re.search(r'name="side" value="buy" checked', html)
    assert Portfolio.objects.get(user=user).cash == Decimal("10000.00")


def test_a_refusal_is_shown_once(logged_in, priced):
    logged_in.post("/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "1000"})
    assert "Not enough cash" in logged_in.get("/portfolio/").content.decode()
    assert "Not enough cash" not in logged_in.get("/portfolio/").content.decode()


def test_a_refused_trade_asked_for_in_json_answers_400_with_the_error(logged_in, priced):
    response = logged_in.post(
        "/portfolio/trade/",
        {"ticker": "AAPL", "side": "buy", "quantity": "1000"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Not enough cash")
    assert not Trade.objects.exists()


def test_a_trade_asked_for_in_json_answers_the_fill_message_and_where_to_go(logged_in, priced):
    response = logged_in.post(
        "/portfolio/trade/",
        {"ticker": "AAPL", "side": "buy", "quantity": "2"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"message": "Bought 2 AAPL at $104.00 ($208.00).", "redirect": "/portfolio/"}
    assert "Bought 2 AAPL" in logged_in.get("/portfolio/").content.decode()


def test_the_fill_message_shows_the_price_exactly_as_stored(logged_in, priced):
    set_price("AAPL", 188.1779)
    logged_in.post("/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "5"})
    assert "Bought 5 AAPL at $188.1779 ($940.89)." in logged_in.get("/portfolio/").content.decode()


def test_a_link_can_choose_the_trade_forms_ticker_and_side(logged_in, priced):
    html = logged_in.get("/portfolio/?ticker=MSFT&side=sell").content.decode()
    assert 'name="ticker" value="MSFT"' in html
    assert re.search(r'name="side" value="sell" checked', html)
    assert not re.search(r'name="side" value="buy" checked', html)


def test_the_trade_form_chooses_no_side_by_itself(logged_in, priced):
    html = logged_in.get("/portfolio/").content.decode()
    assert "checked" not in re.search(r'<form id="trade-form".*?</form>', html, re.S).group(0)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"ticker": "AAPL", "side": "buy", "quantity": "abc"}, "is not a number"),
        ({"ticker": "AAPL", "side": "hold", "quantity": "1"}, "Side must be"),
        ({"ticker": "NO WAY", "side": "buy", "quantity": "1"}, "not valid"),
        ({"ticker": "AAPL", "side": "sell", "quantity": "1"}, "You hold no AAPL"),
        ({"ticker": "AAPL", "side": "buy", "quantity": "0.0000001"}, "decimal places"),
    ],
)
def test_every_refusal_reaches_the_trade_form(logged_in, priced, form, message):
    response = logged_in.post("/portfolio/trade/", form, follow=True)
    assert response.redirect_chain == [("/portfolio/", 302)]
    assert message in re.search(r'id="trade-error"[^>]*>([^<]*)<', response.content.decode()).group(1)
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
    assert response.status_code == 302  # redirect after POST, refusals too
    assert response["Location"] == "/watchlist/"
    html = logged_in.get("/watchlist/").content.decode()
    assert "is not valid" in html
    assert 'value="BAD$"' in html
    assert WatchlistEntry.objects.filter(watchlist__user=user).count() == len(DEFAULT_TICKERS)


def test_a_refusal_of_the_dashboards_form_goes_back_to_the_dashboard(logged_in, user):
    response = logged_in.post("/watchlist/", {"action": "add", "ticker": "BAD$", "next": "/"})
    assert response["Location"] == "/"
    html = logged_in.get("/").content.decode()
    assert re.search(r'id="watchlist-message"[^>]*>[^<]*is not valid', html)
    assert 'value="BAD$"' in html


@pytest.mark.parametrize("action", ["add", "remove", "create", "rename", "delete"])
def test_each_watchlist_action_has_its_own_url(logged_in, user, action):
    energy = services.create_watchlist(user, "Energy")
    services.add_to_watchlist(energy, "XOM")
    fields = {
        "add": {"watchlist": energy.pk, "ticker": "CVX"},
        "remove": {"watchlist": energy.pk, "ticker": "XOM"},
        "create": {"name": "Banks"},
        "rename": {"watchlist": energy.pk, "name": "Oil"},
        "delete": {"watchlist": energy.pk},
    }[action]
    assert logged_in.post(f"/watchlist/{action}/", fields)["Location"] == "/watchlist/"
    names = set(Watchlist.objects.filter(user=user).values_list("name", flat=True))
    tickers = set(WatchlistEntry.objects.filter(watchlist__name="Energy").values_list("ticker", flat=True))
    assert {
        "add": tickers == {"XOM", "CVX"},
        "remove": tickers == set(),
        "create": "Banks" in names,
        "rename": "Oil" in names and "Energy" not in names,
        "delete": "Energy" not in names,
    }[action]


def test_a_watchlist_form_asked_for_in_json_answers_json(logged_in, user):
    json_headers = {"Accept": "application/json"}
    refused = logged_in.post("/watchlist/create/", {"name": "  "}, headers=json_headers)
    assert refused.status_code == 400 and refused.json() == {"error": "A watchlist needs a name."}
    created = logged_in.post("/watchlist/create/", {"name": "Energy"}, headers=json_headers)
    assert created.json() == {"message": "Created watchlist Energy.", "redirect": "/watchlist/"}


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
    response = logged_in.post("/watchlist/", {"action": "delete", "watchlist": default.pk}, follow=True)
    assert response.redirect_chain == [("/watchlist/", 302)]
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


def test_a_refusal_keeps_a_bounded_part_of_what_was_entered(logged_in, user):
    logged_in.post("/watchlist/", {"action": "create", "name": "x" * 5000})
    html = logged_in.get("/watchlist/").content.decode()
    assert "at most 64 characters" in html
    assert 'value="' + "x" * 100 + '"' in html
    assert "x" * 101 not in html
