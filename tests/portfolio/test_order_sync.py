"""Order changes made in a server process reach the order engine in runfeed (MARKET_FEED=external): a
message on the market's channel layer, here a real channels-redis layer on a private Redis."""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels_redis.core import RedisChannelLayer

from portfolio.orders import services as orders
from portfolio.orders import sync
from portfolio.orders.engine import OrderEngine
from tests.portfolio_support import make_user, set_price
from tests.support import artifacts_dir, eventually, redis_server_binary, require, start_redis

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def redis_url():
    require(redis_server_binary() is not None, "redis-server")
    proc, port = start_redis(artifacts_dir())
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


@pytest.fixture
def layer(redis_url, monkeypatch):
    layer = RedisChannelLayer(hosts=[redis_url], prefix=f"test{uuid.uuid4().hex[:8]}", expiry=10)
    monkeypatch.setattr(sync, "feed_layer", lambda: layer)
    return layer


def test_without_a_local_engine_a_change_is_sent_over_the_channel_layer(layer):
    sync.orders_changed([3, 1, 2])

    async def receive():
        return await asyncio.wait_for(sync.receive_changed(layer), 5)

    assert asyncio.run(receive()) == [1, 2, 3]


async def test_an_order_placed_in_another_process_reaches_the_engine_that_follows_the_layer(
    layer, fresh_feed
):
    engine = OrderEngine()
    await sync_to_async(engine.open, thread_sensitive=False)(fresh_feed.cache)
    sync.unregister(engine)  # the engine runs in runfeed, not in this (server) process
    follower = asyncio.create_task(engine._follow_messages(layer))
    try:
        user = await database_sync_to_async(make_user)()
        set_price("AAPL", 190.0)
        order = await database_sync_to_async(orders.place_order)(
            user, "AAPL", "buy", 1, type="limit", limit_price=180
        )
        await eventually(lambda: order.pk in engine.book, timeout=5, message="the order in the engine's book")
    finally:
        follower.cancel()
        await sync_to_async(engine.close, thread_sensitive=False)()
