"""The order engine against prices the test controls: each type and side fills at the first tick at which
its condition holds, at that tick's price, never worse than its limit; stop-limits trigger then rest; day
orders expire at 16:00 New York by a clock the test controls; a stale feed fills nothing.

Each tick is a real write to the feed's cache, so the engine sees real TickBatches; the engine's work runs
in the test's thread (``run_pending``) except where a test says otherwise.
"""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from market.feed import get_feed
from portfolio import services
from portfolio.models import Order, Position, Trade
from portfolio.orders import services as orders
from tests.portfolio.orders_support import Clock, cash_of, close_engine, open_engine, status_of, tick
from tests.portfolio_support import make_user, set_price

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def engine(clock):
    engine = open_engine(clock)
    yield engine
    close_engine(engine)


def place(user, **fields):
    order = orders.place_order(user, fields.pop("ticker", "AAPL"), fields.pop("side", "buy"), **fields)
    return order


def filled(order) -> Order:
    order = Order.objects.get(pk=order.pk)
    assert order.status == "filled", (order.status, order.reason)
    return order


def test_a_buy_limit_fills_at_the_first_tick_at_or_below_its_limit_at_that_ticks_price(engine, user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=10, type="limit", limit_price="185")
    tick(engine, {"AAPL": 186.0})
    assert status_of(order) == "open"
    tick(engine, {"AAPL": 184.5})
    order = filled(order)
    assert order.fill_price == Decimal("184.5")
    assert order.trade.price == Decimal("184.5")
    assert cash_of(user) == Decimal("8155.00")
    assert Position.objects.get(portfolio__user=user, ticker="AAPL").quantity == 10


def test_a_buy_limit_fills_at_exactly_its_limit(engine, user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=2, type="limit", limit_price="185.25")
    tick(engine, {"AAPL": 185.25})
    assert filled(order).fill_price == Decimal("185.25")


def test_a_sell_limit_fills_at_the_first_tick_at_or_above_its_limit(engine, user):
    set_price("MSFT", 100.0)
    services.execute_trade(user, "MSFT", "buy", 10)
    order = place(user, ticker="MSFT", side="sell", quantity=10, type="limit", limit_price="110")
    tick(engine, {"MSFT": 109.99})
    assert status_of(order) == "open"
    tick(engine, {"MSFT": 111.25})
    assert filled(order).fill_price == Decimal("111.25")
    assert not Position.objects.filter(portfolio__user=user).exists()
    assert cash_of(user) == Decimal("10112.50")


def test_a_buy_stop_fills_like_a_market_order_at_the_first_tick_at_or_above_its_stop(engine, user):
    set_price("NVDA", 100.0)
    order = place(user, ticker="NVDA", quantity=5, type="stop", stop_price="105")
    tick(engine, {"NVDA": 104.0})
    assert status_of(order) == "open"
    tick(engine, {"NVDA": 106.5})
    assert filled(order).fill_price == Decimal("106.5")


def test_a_sell_stop_fills_at_the_first_tick_at_or_below_its_stop(engine, user):
    set_price("TSLA", 200.0)
    services.execute_trade(user, "TSLA", "buy", 4)
    order = place(user, ticker="TSLA", side="sell", quantity=4, type="stop", stop_price="190")
    tick(engine, {"TSLA": 191.0})
    assert status_of(order) == "open"
    tick(engine, {"TSLA": 187.0})
    assert filled(order).fill_price == Decimal("187")


def test_a_limit_never_fills_at_a_price_worse_than_its_limit(engine, user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=1, type="limit", limit_price="185")
    for price in (189.0, 186.0, 185.01, 185.000001, 190.0):
        tick(engine, {"AAPL": price})
        assert status_of(order) == "open", price
    tick(engine, {"AAPL": 184.0})
    assert filled(order).fill_price <= Decimal("185")


def test_a_marketable_buy_limit_fills_at_once_at_the_current_price(user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=10, type="limit", limit_price="195")
    assert order.status == "filled"
    assert order.fill_price == Decimal("190")
    assert cash_of(user) == Decimal("8100.00")


def test_a_marketable_sell_limit_fills_at_once_at_the_current_price(user):
    set_price("AAPL", 190.0)
    services.execute_trade(user, "AAPL", "buy", 3)
    order = place(user, side="sell", quantity=3, type="limit", limit_price="180")
    assert (order.status, order.fill_price) == ("filled", Decimal("190"))


def test_a_buy_stop_limit_triggers_at_its_stop_then_rests_as_a_limit(engine, user):
    set_price("AMZN", 100.0)
    order = place(user, ticker="AMZN", quantity=1, type="stop_limit", stop_price="105", limit_price="106")
    tick(engine, {"AMZN": 107.0})  # the stop triggers; 107 is above the limit: it rests
    order.refresh_from_db()
    assert (order.status, order.triggered_at is not None) == ("open", True)
    tick(engine, {"AMZN": 103.0})  # below the stop now, but a triggered stop-limit is a limit at 106
    assert filled(order).fill_price == Decimal("103")


def test_a_buy_stop_limit_that_triggers_at_a_marketable_price_fills_on_that_tick(engine, user):
    set_price("AMZN", 100.0)
    order = place(user, ticker="AMZN", quantity=1, type="stop_limit", stop_price="105", limit_price="110")
    tick(engine, {"AMZN": 104.0})
    assert Order.objects.get(pk=order.pk).triggered_at is None
    tick(engine, {"AMZN": 106.0})
    assert filled(order).fill_price == Decimal("106")


def test_a_sell_stop_limit_triggers_then_fills_only_at_or_above_its_limit(engine, user):
    set_price("META", 300.0)
    services.execute_trade(user, "META", "buy", 2)
    order = place(
        user, ticker="META", side="sell", quantity=2, type="stop_limit", stop_price="290", limit_price="288"
    )
    tick(engine, {"META": 285.0})
    assert status_of(order) == "open"
    tick(engine, {"META": 289.5})
    assert filled(order).fill_price == Decimal("289.5")


def test_a_triggered_stop_limit_stays_triggered_across_a_restart(clock, user):
    set_price("AMZN", 100.0)
    order = place(user, ticker="AMZN", quantity=1, type="stop_limit", stop_price="105", limit_price="106")
    first = open_engine(clock)
    tick(first, {"AMZN": 108.0})
    close_engine(first)
    second = open_engine(clock)
    try:
        tick(second, {"AMZN": 102.0})
        assert filled(order).fill_price == Decimal("102")
    finally:
        close_engine(second)


def test_a_tick_of_another_ticker_fills_nothing(engine, user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=1, type="limit", limit_price="185")
    tick(engine, {"MSFT": 1.0, "GOOGL": 1.0})
    assert status_of(order) == "open"


def test_a_crossing_tick_while_the_feed_goes_stale_fills_nothing_until_a_live_tick(engine, user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=1, type="limit", limit_price="185")
    get_feed().cache.update("AAPL", 180.0)  # crosses; the engine queues the fill
    get_feed().cache.mark_success(time.time() - 3600)  # ... and the feed is stale by the time it runs
    engine.run_pending()
    assert status_of(order) == "open"
    tick(engine, {"AAPL": 181.0})
    assert filled(order).fill_price == Decimal("181")


def test_an_order_placed_while_the_feed_is_stale_waits_for_a_live_tick(engine, user):
    set_price("AAPL", 190.0)
    get_feed().cache.mark_success(time.time() - 3600)
    order = place(user, quantity=1, type="limit", limit_price="195")  # marketable, but not now
    assert order.status == "open"
    engine.run_pending()
    tick(engine, {"AAPL": 191.0})
    assert filled(order).fill_price == Decimal("191")


def test_a_triggered_buy_that_can_no_longer_be_paid_for_is_rejected_with_its_reason(engine, user, notified):
    set_price("NVDA", 100.0)
    set_price("MSFT", 100.0)
    order = place(user, ticker="NVDA", quantity=50, type="stop", stop_price="100.5")  # holds $5,025
    services.execute_trade(user, "MSFT", "buy", 45)  # $4,500 of the $4,975 available
    tick(engine, {"NVDA": 150.0})  # 50 x 150 = $7,500 > $5,500 cash
    order = Order.objects.get(pk=order.pk)
    assert order.status == "rejected"
    assert "not enough cash" in order.reason.lower()
    assert cash_of(user) == Decimal("5500.00")
    assert not Position.objects.filter(portfolio__user=user, ticker="NVDA").exists()
    frames = [payload for _, payload in notified if payload["type"] == "order"]
    assert frames[-1]["order"]["status"] == "rejected"
    assert frames[-1]["order"]["reason"] == order.reason


def test_a_fill_tells_the_user_with_an_order_frame_and_a_trade_frame(engine, user, notified):
    set_price("AAPL", 190.0)
    order = place(user, quantity=1, type="limit", limit_price="185")
    notified.clear()
    tick(engine, {"AAPL": 184.0})
    kinds = [(user_id, payload["type"]) for user_id, payload in notified]
    assert (user.pk, "order") in kinds and (user.pk, "trade") in kinds
    (frame,) = [payload for _, payload in notified if payload["type"] == "order"]
    assert frame["order"] == {
        "id": order.pk,
        "ticker": "AAPL",
        "side": "buy",
        "type": "limit",
        "quantity": "1",
        "limit_price": "185.00",
        "stop_price": None,
        "time_in_force": "day",
        "status": "filled",
        "created_at": frame["order"]["created_at"],
        "filled_at": frame["order"]["filled_at"],
        "fill_price": "184.00",
        "reason": None,
    }
    assert frame["order"]["filled_at"].endswith("+00:00")


def test_other_users_hear_nothing_of_an_order(engine, notified):
    alice, bob = make_user(), make_user()
    set_price("AAPL", 190.0)
    place(alice, quantity=1, type="limit", limit_price="185")
    tick(engine, {"AAPL": 184.0})
    told = {user_id for user_id, payload in notified if payload["type"] in ("order", "trade")}
    assert told == {alice.pk}
    assert bob.pk not in told


def test_the_engine_fills_orders_placed_after_it_started_and_forgets_cancelled_ones(engine, user):
    set_price("AAPL", 190.0)
    kept = place(user, quantity=1, type="limit", limit_price="185")
    dropped = place(user, quantity=1, type="limit", limit_price="186")
    engine.run_pending()
    assert {kept.pk, dropped.pk} <= engine.book.ids()
    orders.cancel_order(user, dropped.pk)
    engine.run_pending()
    assert dropped.pk not in engine.book
    tick(engine, {"AAPL": 184.0})
    assert filled(kept)
    assert status_of(dropped) == "cancelled"
    assert Trade.objects.filter(portfolio__user=user).count() == 1


def test_a_lost_change_is_repaired_by_the_periodic_re_read(engine, user, monkeypatch):
    set_price("AAPL", 190.0)
    monkeypatch.setattr("portfolio.orders.sync.orders_changed", lambda ids: None)  # the message is lost
    order = place(user, quantity=1, type="limit", limit_price="185")
    engine.run_pending()
    assert order.pk not in engine.book
    engine.resync()
    assert order.pk in engine.book
    tick(engine, {"AAPL": 184.0})
    assert filled(order)


def test_restarted_with_open_orders_the_engine_fills_them_once(clock, user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=1, type="limit", limit_price="185")
    before = open_engine(clock)
    close_engine(before)  # the process stops before any tick crossed
    after = open_engine(clock)
    try:
        tick(after, {"AAPL": 184.0})
        tick(after, {"AAPL": 183.0})
    finally:
        close_engine(after)
    again = open_engine(clock)  # and once more: the filled order is not in the book
    try:
        assert order.pk not in again.book
        tick(again, {"AAPL": 182.0})
    finally:
        close_engine(again)
    assert filled(order).fill_price == Decimal("184")
    assert Trade.objects.filter(portfolio__user=user).count() == 1


# Day orders and GTC


NEW_YORK_WINTER_FRIDAY_5PM = datetime(2026, 3, 6, 22, 0, tzinfo=UTC)  # 17:00 EST
NEW_YORK_SATURDAY_5PM_BEFORE_DST = datetime(2026, 3, 7, 22, 0, tzinfo=UTC)  # 17:00 EST; DST starts Sunday


def test_a_day_order_expires_at_the_next_1600_new_york_in_winter():
    assert orders.day_expiry(NEW_YORK_WINTER_FRIDAY_5PM) == datetime(2026, 3, 7, 21, 0, tzinfo=UTC)


def test_a_day_order_placed_before_the_close_expires_at_that_days_close():
    morning = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)  # 10:00 EDT
    assert orders.day_expiry(morning) == datetime(2026, 6, 15, 20, 0, tzinfo=UTC)


def test_a_day_order_placed_at_the_close_expires_at_the_next_days_close():
    close = datetime(2026, 6, 15, 20, 0, tzinfo=UTC)  # 16:00 EDT
    assert orders.day_expiry(close) == datetime(2026, 6, 16, 20, 0, tzinfo=UTC)


def test_a_day_order_placed_before_the_dst_change_expires_at_1600_daylight_time(
    clock, engine, user, notified
):
    set_price("AAPL", 190.0)
    clock.set(NEW_YORK_SATURDAY_5PM_BEFORE_DST)
    order = place(user, quantity=1, type="limit", limit_price="150", now=clock())
    expiry = datetime(2026, 3, 8, 20, 0, tzinfo=UTC)  # 16:00 EDT, not 21:00 UTC
    assert order.expires_at == expiry
    engine.run_pending()
    clock.set(expiry - timedelta(seconds=1))
    tick(engine, {"AAPL": 189.0})
    assert status_of(order) == "open"
    clock.set(expiry)
    tick(engine, {"AAPL": 188.0})
    order = Order.objects.get(pk=order.pk)
    assert order.status == "expired"
    assert "16:00" in order.reason
    assert order.pk not in engine.book
    assert notified[-1][1]["order"]["status"] == "expired"


def test_a_day_order_whose_close_has_passed_does_not_fill_on_a_crossing_tick(clock, engine, user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=1, type="limit", limit_price="185", now=clock())
    engine.run_pending()
    clock.set(order.expires_at + timedelta(minutes=1))
    tick(engine, {"AAPL": 180.0})
    assert status_of(order) == "expired"
    assert cash_of(user) == Decimal("10000.00")


def test_a_gtc_order_stays_open_past_the_close(clock, engine, user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=1, type="limit", limit_price="185", time_in_force="gtc", now=clock())
    assert order.expires_at is None
    engine.run_pending()
    clock.set(clock() + timedelta(days=30))
    tick(engine, {"AAPL": 189.0})
    engine.expire()
    assert status_of(order) == "open"
    tick(engine, {"AAPL": 184.0})
    assert filled(order)


def test_an_expired_day_order_frees_its_cash(clock, engine, user):
    set_price("AAPL", 100.0)
    order = place(user, quantity=50, type="limit", limit_price="90", now=clock())
    assert services.reserved_cash(order.portfolio) == Decimal("4500.00")
    clock.set(order.expires_at)
    engine.expire()
    assert services.reserved_cash(order.portfolio) == Decimal("0.00")


# The real worker thread


def test_with_its_worker_thread_the_engine_fills_off_the_ticking_thread(clock, user):
    set_price("AAPL", 190.0)
    order = place(user, quantity=1, type="limit", limit_price="185")
    engine = open_engine(clock, worker=True)
    try:
        get_feed().cache.update("AAPL", 184.0)
        assert engine.wait_idle(10)
    finally:
        close_engine(engine)
    assert filled(order).fill_price == Decimal("184")
