"""The order engine inside a real running feed (an embedded server's): registered by the portfolio app
through ``MARKET_TICK_LISTENERS``, filling on the simulator's own ticks; an open order keeps its ticker
tracked."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from market.feed import get_feed
from portfolio.models import Order
from portfolio.orders import services as orders
from portfolio.orders import sync
from portfolio.orders.engine import OrderEngine
from tests.portfolio_support import make_user
from tests.support import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def threads_close_their_connections(settings):
    settings.MARKET_TICKER_DEMAND = "tests.portfolio_support.ticker_demand_closing_connection"
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def feed():
    running = get_feed()
    await running.start()
    yield running
    await running.stop()


async def test_the_running_feed_has_the_order_engine_as_an_owner_only_listener(feed):
    (engine,) = [listener for listener in feed._listeners if isinstance(listener, OrderEngine)]
    assert engine.owner_only
    assert sync.local_engines() == [engine]


async def test_a_resting_order_makes_the_feed_track_its_ticker_and_fills_on_a_simulator_tick(feed):
    user = await sync_to_async(make_user)()
    # No price for ZZZX yet: the order rests; its commit makes the feed track ZZZX (the simulator prices
    # a new ticker between $50 and $300), and the first tick fills it at that tick's price.
    order = await sync_to_async(orders.place_order)(user, "ZZZX", "buy", 1, type="limit", limit_price=400)
    assert order.status == "open"
    await eventually(lambda: "ZZZX" in feed.source.get_tickers(), timeout=5, message="ZZZX tracked")

    await eventually(lambda: _filled(order.pk), timeout=10, message="the fill")
    filled = await sync_to_async(Order.objects.get)(pk=order.pk)
    assert 0 < filled.fill_price <= 400


async def _filled(order_pk: int) -> bool:
    return await sync_to_async(lambda: Order.objects.get(pk=order_pk).status == "filled")()
