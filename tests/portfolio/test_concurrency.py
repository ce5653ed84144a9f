"""Simultaneous requests, in real threads on real connections: never overspend, oversell or fail spuriously.

Runs on SQLite (a file database, BEGIN IMMEDIATE) and, under scripts/test's second pass, on PostgreSQL
(row locks with SELECT ... FOR UPDATE).
"""

import threading
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from portfolio import selectors, services
from portfolio.models import Portfolio, Position, Trade, Watchlist, WatchlistEntry
from portfolio.services import TradeRefused
from tests.portfolio_support import make_user, set_price

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(count: int, action) -> list:
    """Run ``action(i)`` in ``count`` threads released together; each result or raised exception, in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = action(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,), name=f"concurrent-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is still running after 60 s"
    return results


def split(results: list) -> tuple[list, list]:
    """Fills and refusals; anything else (a lock error, a crash) fails the test here."""
    unexpected = [r for r in results if not isinstance(r, Trade | TradeRefused)]
    assert not unexpected, f"spurious failures: {unexpected!r}"
    return [r for r in results if isinstance(r, Trade)], [r for r in results if isinstance(r, TradeRefused)]


def test_ten_simultaneous_buys_of_which_six_are_affordable_fill_exactly_six():
    user = make_user()
    set_price("AAPL", 100.0)
    fills, refusals = split(at_once(10, lambda i: services.execute_trade(user, "AAPL", "buy", 16)))
    assert (len(fills), len(refusals)) == (6, 4)  # 6 x 1,600 = 9,600; a seventh would need 11,200
    assert all("not enough cash" in str(refusal).lower() for refusal in refusals)
    assert Portfolio.objects.get(user=user).cash == Decimal("400.00")
    assert Position.objects.get(portfolio__user=user, ticker="AAPL").quantity == Decimal("96")
    assert sorted(t.cash_after for t in fills) == [Decimal(400 + 1600 * k) for k in range(6)]


def test_ten_simultaneous_sells_never_sell_more_than_is_held():
    user = make_user()
    set_price("MSFT", 100.0)
    services.execute_trade(user, "MSFT", "buy", 10)
    fills, refusals = split(at_once(10, lambda i: services.execute_trade(user, "MSFT", "sell", 2)))
    assert (len(fills), len(refusals)) == (5, 5)
    assert all("not enough shares" in str(refusal).lower() for refusal in refusals)
    assert not Position.objects.filter(portfolio__user=user).exists()
    assert Portfolio.objects.get(user=user).cash == Decimal("10000.00")


def test_simultaneous_buys_and_sells_keep_cash_and_shares_consistent():
    user = make_user()
    set_price("V", 50.0)
    services.execute_trade(user, "V", "buy", 20)

    def trade(i: int):
        return services.execute_trade(user, "V", "buy" if i % 2 else "sell", 5)

    fills, _ = split(at_once(10, trade))
    bought = sum(t.quantity for t in fills if t.side == "buy")
    sold = sum(t.quantity for t in fills if t.side == "sell")
    position = Position.objects.filter(portfolio__user=user, ticker="V").first()
    held = position.quantity if position else Decimal(0)
    assert held == 20 + bought - sold >= 0
    assert Portfolio.objects.get(user=user).cash == Decimal("9000.00") - 50 * bought + 50 * sold


def test_two_users_trading_at_once_do_not_block_each_other_into_failure():
    alice, bob = make_user(), make_user()
    set_price("NFLX", 100.0)
    users = [alice, bob] * 4
    fills, refusals = split(at_once(8, lambda i: services.execute_trade(users[i], "NFLX", "buy", 10)))
    assert (len(fills), len(refusals)) == (8, 0)
    for user in (alice, bob):
        assert Portfolio.objects.get(user=user).cash == Decimal("6000.00")


def test_setting_up_one_user_from_many_requests_at_once_makes_one_of_everything():
    get_user_model().objects.bulk_create([get_user_model()(username="racer")])  # no signals: not set up
    user = get_user_model().objects.get(username="racer")
    results = at_once(8, lambda i: services.ensure_user_setup(user))
    assert all(isinstance(r, Portfolio) for r in results), results
    assert Portfolio.objects.filter(user=user).count() == 1
    assert Watchlist.objects.filter(user=user, is_default=True).count() == 1
    assert WatchlistEntry.objects.filter(watchlist__user=user).count() == 10


def test_adding_one_ticker_from_many_requests_at_once_adds_it_once():
    watchlist = selectors.default_watchlist(make_user())
    results = at_once(8, lambda i: services.add_to_watchlist(watchlist, "PLTR"))
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(created for _, created in results) == 1
    assert WatchlistEntry.objects.filter(watchlist=watchlist, ticker="PLTR").count() == 1
