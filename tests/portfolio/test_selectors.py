"""Reads: reference counts for the feed, portfolio valuation, stream tickers, in constant queries."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser

from market.feed import get_feed
from market.seed_prices import DEFAULT_TICKERS
from portfolio import selectors, services
from portfolio.models import PortfolioSnapshot, Watchlist
from tests.portfolio_support import make_user, set_price, set_prices

pytestmark = pytest.mark.django_db


def test_ticker_demand_counts_watchlist_entries_and_positions_across_users():
    alice, bob = make_user(), make_user()
    services.add_to_watchlist(selectors.default_watchlist(alice), "XYZ")
    services.add_to_watchlist(selectors.default_watchlist(bob), "XYZ")
    services.add_to_watchlist(services.create_watchlist(bob, "More"), "XYZ")
    set_price("XYZ", 10.0)
    services.execute_trade(alice, "XYZ", "buy", 1)
    assert selectors.ticker_demand(["XYZ"]) == {"XYZ": 4}


def test_ticker_demand_reports_zero_for_an_unreferenced_ticker():
    make_user()
    assert selectors.ticker_demand(["NOPE", "AAPL"]) == {"NOPE": 0, "AAPL": 1}


def test_ticker_demand_without_tickers_reports_every_referenced_one():
    user = make_user()
    services.add_to_watchlist(selectors.default_watchlist(user), "XYZ")
    assert selectors.ticker_demand(None) == {**dict.fromkeys(DEFAULT_TICKERS, 1), "XYZ": 1}


def test_ticker_demand_uses_grouped_queries_whatever_the_number_of_rows(django_assert_num_queries):
    for _ in range(5):
        make_user()
    with django_assert_num_queries(3):  # watchlist entries, positions, open orders
        assert selectors.ticker_demand(None)["AAPL"] == 5


def test_portfolio_summary_values_positions_at_live_prices():
    user = make_user()
    set_prices({"AAPL": 100.0, "MSFT": 200.0})
    services.execute_trade(user, "AAPL", "buy", 10)
    services.execute_trade(user, "MSFT", "buy", "2.5")
    set_prices({"AAPL": 110.0, "MSFT": 190.0})
    summary = selectors.portfolio_summary(user)
    assert summary["cash"] == Decimal("8500.00")
    assert summary["total_value"] == Decimal("10075.00")  # 8500 + 1100 + 475
    aapl, msft = summary["positions"]
    assert aapl == {
        "ticker": "AAPL",
        "quantity": Decimal("10"),
        "avg_cost": Decimal("100"),
        "cost_basis": Decimal("1000.00"),
        "price": Decimal("110"),
        "market_value": Decimal("1100.00"),
        "unrealized_pnl": Decimal("100.00"),
        "unrealized_pnl_percent": Decimal("10.00"),
    }
    assert (msft["market_value"], msft["unrealized_pnl"], msft["unrealized_pnl_percent"]) == (
        Decimal("475.00"),
        Decimal("-25.00"),
        Decimal("-5.00"),
    )


def test_a_position_without_a_price_shows_none_and_counts_at_cost():
    user = make_user()
    set_price("XYZ", 50.0)
    services.execute_trade(user, "XYZ", "buy", 2)
    get_feed().cache.remove("XYZ")
    set_price("AAPL", 1.0)  # the feed is live, XYZ just has no price
    summary = selectors.portfolio_summary(user)
    (row,) = summary["positions"]
    assert (row["price"], row["market_value"], row["unrealized_pnl"]) == (None, None, None)
    assert summary["total_value"] == Decimal("10000.00")


def test_portfolio_summary_takes_the_same_queries_for_one_or_many_positions(django_assert_num_queries):
    few, many = make_user(), make_user()
    tickers = ["A", "B", "C", "D", "E", "F"]
    set_prices(dict.fromkeys(tickers, 10.0))
    services.execute_trade(few, "A", "buy", 1)
    for ticker in tickers:
        services.execute_trade(many, ticker, "buy", 1)
    # The portfolio, its positions, the cash its open orders hold.
    with django_assert_num_queries(3):
        selectors.portfolio_summary(few)
    with django_assert_num_queries(3):
        assert len(selectors.portfolio_summary(many)["positions"]) == 6


def test_stream_tickers_for_an_anonymous_visitor_are_the_default_ten():
    assert selectors.stream_tickers_for_user(AnonymousUser()) == list(DEFAULT_TICKERS)


def test_stream_tickers_for_a_user_are_the_default_list_then_other_lists_then_positions():
    user = make_user()
    default = selectors.default_watchlist(user)
    services.remove_from_watchlist(default, "AAPL")
    services.add_to_watchlist(default, "PLTR")
    tech = services.create_watchlist(user, "Tech")
    services.add_to_watchlist(tech, "AMD")
    services.add_to_watchlist(tech, "PLTR")
    set_prices({"AAPL": 100.0, "SHOP": 50.0})
    services.execute_trade(user, "AAPL", "buy", 1)
    services.execute_trade(user, "SHOP", "buy", 1)
    expected = [t for t in DEFAULT_TICKERS if t != "AAPL"] + ["PLTR", "AMD", "AAPL", "SHOP"]
    assert selectors.stream_tickers_for_user(user) == expected


def test_watchlist_rows_show_live_prices_in_the_order_tickers_were_added():
    user = make_user()
    watchlist = selectors.default_watchlist(user)
    services.add_to_watchlist(watchlist, "XYZ")
    set_price("AAPL", 100.0)
    set_price("AAPL", 101.0)
    rows = selectors.watchlist_rows(watchlist)
    assert [row["ticker"] for row in rows] == [*DEFAULT_TICKERS, "XYZ"]
    aapl = rows[0]
    assert (aapl["price"], aapl["previous_price"], aapl["change"], aapl["direction"]) == (
        101.0,
        100.0,
        1.0,
        "up",
    )
    assert aapl["change_percent"] == 1.0
    assert rows[-1]["price"] is None


def test_watchlist_rows_can_carry_recent_history_for_sparklines():
    watchlist = selectors.default_watchlist(make_user())
    for price in (100.0, 101.0, 102.0):
        set_price("AAPL", price)
    rows = selectors.watchlist_rows(watchlist, history=2)
    assert [point[1] for point in rows[0]["history"]] == [101.0, 102.0]
    assert rows[1]["history"] == []


def test_price_rows_say_whether_each_ticker_is_priced_pending_or_unknown(monkeypatch):
    monkeypatch.setattr(get_feed(), "unknown_tickers", lambda: {"ZZZZ"})
    set_price("AAPL", 100.0)
    rows = selectors.price_rows(["AAPL", "MSFT", "ZZZZ"])
    assert [row["state"] for row in rows] == ["priced", "pending", "unknown"]


def test_watchlist_rows_take_one_query(django_assert_num_queries):
    watchlist = selectors.default_watchlist(make_user())
    with django_assert_num_queries(1):
        selectors.watchlist_rows(watchlist)


def test_watchlists_for_a_set_up_user_take_two_queries(django_assert_num_queries):
    user = make_user()
    services.create_watchlist(user, "Alpha")
    with django_assert_num_queries(2):
        selectors.watchlists_for(user)


def test_watchlists_for_give_a_user_without_one_the_default_watchlist():
    user = make_user()
    Watchlist.objects.filter(user=user).delete()
    assert [(w.name, w.is_default, len(w.entries.all())) for w in selectors.watchlists_for(user)] == [
        ("Default", True, len(DEFAULT_TICKERS))
    ]


def test_watchlists_for_lists_the_default_first():
    user = make_user()
    services.create_watchlist(user, "Alpha")
    assert [w.name for w in selectors.watchlists_for(user)] == ["Default", "Alpha"]


def test_recent_trades_are_newest_first_and_limited():
    user = make_user()
    set_price("AAPL", 10.0)
    for quantity in (1, 2, 3):
        services.execute_trade(user, "AAPL", "buy", quantity)
    assert [t.quantity for t in selectors.recent_trades(user, limit=2)] == [Decimal("3"), Decimal("2")]


def test_recent_trades_show_only_the_users_own():
    alice, bob = make_user(), make_user()
    set_price("AAPL", 10.0)
    services.execute_trade(alice, "AAPL", "buy", 1)
    assert selectors.recent_trades(bob) == []


def test_value_history_is_the_latest_snapshots_oldest_first():
    user = make_user()
    set_price("AAPL", 10.0)
    for _ in range(3):
        services.record_value_snapshots()
    history = selectors.value_history(user, limit=2)
    assert len(history) == 2
    assert history[0].recorded_at <= history[1].recorded_at
    assert history[-1].pk == PortfolioSnapshot.objects.filter(portfolio__user=user).latest("id").pk


def test_price_rows_carry_the_days_change_against_the_previous_close():
    get_feed().cache.set_previous_closes({"AAPL": 180.0})
    set_price("AAPL", 181.8)
    (row,) = selectors.price_rows(["AAPL"])
    assert (row["previous_close"], row["day_change"]) == (180.0, 1.8)
    assert row["day_change_percent"] == pytest.approx(1.0)
