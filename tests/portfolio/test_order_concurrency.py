"""Orders under races, in real threads on real connections: an order fills at most once whoever tries,
and a cancel racing a fill ends as exactly one of them.

Runs on SQLite (BEGIN IMMEDIATE) and, under scripts/test's second pass, on PostgreSQL (the order's row
locked with SELECT ... FOR UPDATE, then the portfolio's).
"""

from decimal import Decimal

import pytest

from market.feed import get_feed
from portfolio import services
from portfolio.models import Order, Portfolio, Trade
from portfolio.orders import services as orders
from tests.portfolio.orders_support import close_engine, open_engine
from tests.portfolio.test_concurrency import at_once
from tests.portfolio_support import make_user, set_price

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_cancel_racing_a_fill_ends_as_exactly_one_of_them():
    user = make_user()
    set_price("AAPL", 190.0)
    outcomes = set()
    for _ in range(8):
        order = orders.place_order(
            user, "AAPL", "buy", 1, type="limit", limit_price="185", time_in_force="gtc"
        )
        engine = open_engine()
        try:
            get_feed().cache.update("AAPL", 184.0)  # the engine has the fill queued

            def race(i: int, engine=engine, order=order):
                return engine.run_pending() if i == 0 else orders.cancel_order(user, order.pk)

            fill_result, cancel_result = at_once(2, race)
        finally:
            close_engine(engine)
        set_price("AAPL", 190.0)
        order.refresh_from_db()
        trades = Trade.objects.filter(order=order).count()
        if order.status == "filled":
            assert isinstance(cancel_result, orders.OrderNotOpen), cancel_result
            assert trades == 1
        else:
            assert order.status == "cancelled"
            assert isinstance(cancel_result, Order), cancel_result
            assert trades == 0
        assert not isinstance(fill_result, Exception), fill_result
        outcomes.add(order.status)
    position = user.portfolio.positions.filter(ticker="AAPL").first()
    filled = Order.objects.filter(portfolio__user=user, status="filled").count()
    assert (position.quantity if position else 0) == filled
    assert Portfolio.objects.get(user=user).cash == Decimal("10000.00") - 184 * filled


def test_two_engines_seeing_the_same_tick_fill_an_order_once():
    user = make_user()
    set_price("AAPL", 190.0)
    placed = [
        orders.place_order(user, "AAPL", "buy", 1, type="limit", limit_price=185 - i, time_in_force="gtc")
        for i in range(5)
    ]
    first, second = open_engine(worker=True), open_engine(worker=True)  # two processes' engines, two workers
    try:
        get_feed().cache.update("AAPL", 170.0)
        assert first.wait_idle(20) and second.wait_idle(20)
    finally:
        close_engine(first)
        close_engine(second)
    assert Trade.objects.filter(portfolio__user=user).count() == 5
    assert all(Trade.objects.filter(order__pk=order.pk).count() == 1 for order in placed)
    assert first.stats["filled"] + second.stats["filled"] == 5
    assert Portfolio.objects.get(user=user).cash == Decimal("10000.00") - 5 * 170


def test_twenty_orders_triggering_on_one_tick_with_cash_for_twelve_fill_exactly_twelve():
    user = make_user()
    set_prices = {"NVDA": 90.0, "MSFT": 100.0}
    for ticker, price in set_prices.items():
        set_price(ticker, price)
    for _ in range(20):  # each holds $100: $2,000 in all
        orders.place_order(user, "NVDA", "buy", 1, type="stop", stop_price="100", time_in_force="gtc")
    services.execute_trade(user, "MSFT", "buy", 38)  # $3,800: $6,200 cash left
    engine = open_engine(worker=True)
    try:
        get_feed().cache.update("NVDA", 500.0)  # a gap: each now costs $500; the cash pays for 12
        assert engine.wait_idle(30)
    finally:
        close_engine(engine)
    statuses = list(Order.objects.filter(portfolio__user=user).values_list("status", flat=True))
    assert statuses.count("filled") == 12
    assert statuses.count("rejected") == 8
    assert all(
        "not enough cash" in reason.lower()
        for reason in Order.objects.filter(status="rejected").values_list("reason", flat=True)
    )
    assert Portfolio.objects.get(user=user).cash == Decimal("200.00")


def test_open_orders_fill_once_after_a_restart():
    user = make_user()
    set_price("AAPL", 190.0)
    order = orders.place_order(user, "AAPL", "buy", 2, type="limit", limit_price="180", time_in_force="gtc")
    before = open_engine(worker=True)
    close_engine(before)
    after = open_engine(worker=True)
    try:
        get_feed().cache.update("AAPL", 179.0)
        assert after.wait_idle(10)
        get_feed().cache.update("AAPL", 178.0)
        assert after.wait_idle(10)
    finally:
        close_engine(after)
    order.refresh_from_db()
    assert (order.status, order.fill_price) == ("filled", Decimal("179"))
    assert Trade.objects.filter(portfolio__user=user).count() == 1


def test_orders_of_many_users_crossing_on_one_tick_all_fill():
    users = [make_user() for _ in range(5)]
    set_price("AMD", 100.0)
    for user in users:
        for _ in range(4):
            orders.place_order(user, "AMD", "buy", 10, type="limit", limit_price="99", time_in_force="gtc")
    engine = open_engine(worker=True)
    try:
        get_feed().cache.update("AMD", 98.0)
        assert engine.wait_idle(30)
    finally:
        close_engine(engine)
    assert Order.objects.filter(status="filled").count() == 20
    for user in users:
        assert Portfolio.objects.get(user=user).cash == Decimal("10000.00") - 4 * 980
