"""What must never be false is refused by the database itself, on SQLite and PostgreSQL alike."""

from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, transaction

from portfolio import selectors
from portfolio.models import Portfolio, Position, Trade, Watchlist, WatchlistEntry
from tests.portfolio_support import make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def refused(make) -> bool:
    try:
        with transaction.atomic():
            make()
    except (IntegrityError, DataError):  # PostgreSQL reports an over-long value as a DataError
        return True
    return False


@pytest.mark.parametrize("ticker", ["aapl", "A B", "", "TOOLONGTICKER", "AAPL\n", "$"])
def test_the_database_refuses_a_watchlist_entry_breaking_the_ticker_rule(ticker):
    watchlist = selectors.default_watchlist(make_user())
    assert refused(lambda: WatchlistEntry.objects.create(watchlist=watchlist, ticker=ticker))


@pytest.mark.parametrize("ticker", ["BRK.B", "RDS-A", "X", "ABCDEFGHIJ"])
def test_the_database_accepts_every_ticker_the_rule_allows(ticker):
    watchlist = selectors.default_watchlist(make_user())
    assert not refused(lambda: WatchlistEntry.objects.create(watchlist=watchlist, ticker=ticker))


def test_the_database_refuses_the_same_ticker_twice_on_one_watchlist():
    watchlist = selectors.default_watchlist(make_user())
    assert refused(lambda: WatchlistEntry.objects.create(watchlist=watchlist, ticker="AAPL"))


def test_the_database_refuses_a_second_default_watchlist():
    user = make_user()
    assert refused(lambda: Watchlist.objects.create(user=user, name="Another", is_default=True))


def test_the_database_refuses_watchlist_names_differing_only_in_case():
    user = make_user()
    Watchlist.objects.create(user=user, name="Tech")
    assert refused(lambda: Watchlist.objects.create(user=user, name="TECH"))


def test_the_database_refuses_an_empty_watchlist_name():
    user = make_user()
    assert refused(lambda: Watchlist.objects.create(user=user, name=""))


def test_the_database_refuses_negative_cash():
    user = make_user()
    assert refused(lambda: Portfolio.objects.filter(user=user).update(cash=Decimal("-0.01")))


@pytest.mark.parametrize("quantity", [Decimal("0"), Decimal("-1")])
def test_the_database_refuses_an_empty_or_negative_position(quantity):
    portfolio = selectors.portfolio_for(make_user())
    assert refused(
        lambda: Position.objects.create(portfolio=portfolio, ticker="AAPL", quantity=quantity, avg_cost=1)
    )


def test_the_database_refuses_a_second_position_in_one_ticker():
    portfolio = selectors.portfolio_for(make_user())
    Position.objects.create(portfolio=portfolio, ticker="AAPL", quantity=1, avg_cost=1)
    assert refused(
        lambda: Position.objects.create(portfolio=portfolio, ticker="AAPL", quantity=1, avg_cost=1)
    )


def test_the_database_refuses_a_trade_with_an_unknown_side():
    portfolio = selectors.portfolio_for(make_user())
    assert refused(
        lambda: Trade.objects.create(
            portfolio=portfolio, ticker="AAPL", side="hold", quantity=1, price=1, notional=1, cash_after=1
        )
    )


def test_money_round_trips_exactly_at_full_precision():
    portfolio = selectors.portfolio_for(make_user())
    Portfolio.objects.filter(pk=portfolio.pk).update(cash=Decimal("9999999999999.99"))
    position = Position.objects.create(
        portfolio=portfolio,
        ticker="AAPL",
        quantity=Decimal("999999999.999999"),
        avg_cost=Decimal("123456789.123456"),
    )
    portfolio.refresh_from_db()
    position.refresh_from_db()
    assert portfolio.cash == Decimal("9999999999999.99")
    assert position.quantity == Decimal("999999999.999999")
    assert position.avg_cost == Decimal("123456789.123456")
