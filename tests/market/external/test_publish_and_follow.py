"""market.external's publisher, mirror, last prices and leader lock in one process, against a real
private Redis.

The whole external mode (runfeed and two daphne processes) runs in tests/market/external/test_cluster.py.
"""

import asyncio
import time
import uuid

import pytest
import redis
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

from market.external import control, publisher
from market.external.control import receive_recheck, request_recheck
from market.external.last_prices import PRICES_KEY, FeedState, LastPriceStore, connect
from market.external.leader import LeaderLock
from market.external.mirror import MirrorSource
from market.external.publisher import TickPublisher
from market.feed import Feed
from market.interface import MarketDataSource
from market.models import make_update
from tests import support
from tests.support import artifacts_dir, start_redis

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_url():
    proc, port = start_redis(artifacts_dir())
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


@pytest.fixture(autouse=True)
def _empty_redis(redis_url):
    redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture
def layer(redis_url):
    # A prefix of its own: nothing a previous test left behind can reach this one. The settings of the
    # project's "market" layer otherwise (market.external.control).
    return RedisChannelLayer(
        hosts=[redis_url],
        prefix=f"test{uuid.uuid4().hex[:8]}",
        capacity=1000,
        expiry=10,
        group_expiry=control.GROUP_EXPIRY,
    )


@pytest.fixture
async def store(redis_url):
    store = LastPriceStore(connect(redis_url))
    yield store
    await store.close()


def eventually(condition, timeout: float = 3.0, message: str = "condition"):
    """tests.support.eventually with this module's shorter default timeout."""
    return support.eventually(condition, timeout=timeout, message=message)


async def stored(store, tickers: set[str], price_of_aapl: float | None = None, timeout: float = 3.0):
    """Await until the Redis store holds prices for ``tickers`` (and AAPL at ``price_of_aapl``)."""

    async def holds_them():
        prices, _ = await store.load()
        if set(prices) >= tickers and (price_of_aapl is None or prices["AAPL"].price == price_of_aapl):
            return prices
        return None

    return await eventually(holds_them, timeout=timeout, message=f"{sorted(tickers)} in Redis")


def mirror_feed(layer, store) -> Feed:
    """A server's feed under MARKET_FEED=external: its source is a MirrorSource."""
    return Feed(source_factory=lambda cache: MirrorSource(cache, layer, store))


class Pair:
    """runfeed's feed with its publisher, and a server's feed following it, running in this loop.

    Neither feed's own tasks run: the test writes the owner's cache by hand.
    """

    def __init__(self, layer, store, interval: float = 10.0):
        self.owner = Feed()
        self.owner.source.interval = interval
        self.mirror = mirror_feed(layer, store)
        self.publisher = TickPublisher(layer, store)
        self.follower = self.mirror.source
        self.tasks: list[asyncio.Task] = []

    async def publish(self, owner: Feed) -> None:
        self.owner = owner
        await self.publisher.start(owner)
        owner.cache.add_listener(self.publisher.on_tick)

    async def __aenter__(self):
        await self.publish(self.owner)
        self.tasks = [asyncio.create_task(self.follower.follow_forever())]
        await eventually(lambda: self.follower.resyncs, message="the follower to join")
        return self

    async def __aexit__(self, *exc):
        self.owner.cache.remove_listener(self.publisher.on_tick)
        await self.publisher.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def message(seq, updates, run="run1", full=False, **extra):
    return {
        "type": control.TICK,
        "run": run,
        "seq": seq,
        "source": "simulator",
        "interval": 0.5,
        "age": 0.0,
        "full": full,
        "updates": [[t, p, prev, ts] for t, p, prev, ts in updates],
        **extra,
    }


async def test_a_mirror_gets_the_published_prices_with_their_previous_prices(layer, store):
    async with Pair(layer, store) as pair:
        pair.owner.cache.update_many(["AAPL", "MSFT"], [190.0, 410.0], timestamp=1000.0)
        pair.owner.cache.update_many(["AAPL", "MSFT"], [191.0, 409.5], timestamp=1000.5)
        await eventually(lambda: pair.mirror.cache.get_price("MSFT") == 409.5, message="the second tick")
    mirrored = pair.mirror.cache.get("AAPL")
    assert (mirrored.price, mirrored.previous_price, mirrored.timestamp) == (191.0, 190.0, 1000.5)
    assert mirrored.direction == "up"
    assert pair.mirror.cache.get("MSFT").direction == "down"


async def test_each_tick_is_published_with_one_group_send(layer, store, monkeypatch):
    monkeypatch.setattr(publisher, "HEARTBEAT_MAX", 60.0)  # no heartbeat in between, however slow the machine
    sent = []
    original = layer.group_send

    async def counting_group_send(group, payload):
        sent.append((group, payload))
        await original(group, payload)

    layer.group_send = counting_group_send
    async with Pair(layer, store) as pair:
        for step in range(3):
            pair.owner.cache.update_many(["AAPL", "MSFT", "TSLA"], [100.0 + step, 200.0 + step, 300.0 + step])
            await eventually(lambda n=step + 1: len(sent) >= n, message=f"tick {step + 1}")
        await eventually(lambda: pair.mirror.cache.get_price("TSLA") == 302.0, message="the last tick")
    assert [group for group, _ in sent] == [control.TICKS_GROUP] * 3
    assert [payload["seq"] for _, payload in sent] == [1, 2, 3]
    assert all(payload["source"] == "simulator" and payload["interval"] == 10.0 for _, payload in sent)


async def test_a_tick_carries_only_the_prices_that_changed(layer, store):
    async with Pair(layer, store) as pair:
        pair.owner.cache.update_many(["AAPL", "MSFT"], [190.0, 410.0])
        await eventually(lambda: pair.publisher.seq == 1, message="the first tick")
        pair.owner.cache.update_many(["AAPL", "MSFT"], [190.0, 411.0])
        await eventually(lambda: pair.publisher.seq == 2, message="the second tick")
    assert pair.publisher.last_size == 1


async def test_a_quiet_feed_sends_heartbeats_that_keep_mirrors_fresh(layer, store):
    async with Pair(layer, store, interval=0.1) as pair:
        pair.owner.cache.update("AAPL", 190.0)
        await eventually(lambda: "AAPL" in pair.mirror.cache, message="the first tick")
        first = pair.mirror.cache.last_success

        async def polls_that_change_nothing():
            while True:
                pair.owner.cache.mark_success()
                await asyncio.sleep(0.02)

        polling = asyncio.create_task(polls_that_change_nothing())
        try:
            await eventually(lambda: pair.mirror.cache.last_success > first + 0.3, message="heartbeats")
        finally:
            polling.cancel()
        assert not pair.mirror.is_stale()
    assert len(pair.mirror.cache.history("AAPL")) == 1


async def test_a_mirror_reports_stale_when_runfeeds_source_is_stale(layer, store):
    async with Pair(layer, store, interval=0.1) as pair:
        pair.owner.cache.update("AAPL", 190.0)
        await eventually(lambda: "AAPL" in pair.mirror.cache, message="the first tick")
        pair.owner.cache.mark_success(time.time() - 60)  # runfeed alive, its source failing for a minute
        await eventually(pair.mirror.is_stale, message="the mirror to report stale")
    assert pair.mirror.cache.age() >= 59


async def test_duplicate_and_late_messages_are_ignored(layer, store):
    mirror = mirror_feed(layer, store)
    follower = mirror.source
    await follower.handle(message(1, [("AAPL", 100.0, 100.0, 1.0)], full=True))
    await follower.handle(message(2, [("AAPL", 101.0, 100.0, 2.0)]))
    await follower.handle(message(2, [("AAPL", 555.0, 101.0, 2.0)]))
    await follower.handle(message(1, [("AAPL", 666.0, 101.0, 1.0)], full=True))
    assert mirror.cache.get_price("AAPL") == 101.0
    assert len(mirror.cache.history("AAPL")) == 2


async def test_a_gap_in_the_sequence_reloads_the_missed_prices_from_redis(layer, store):
    mirror = mirror_feed(layer, store)
    follower = mirror.source
    await follower.handle(message(1, [("AAPL", 100.0, 100.0, 1.0), ("MSFT", 400.0, 400.0, 1.0)], full=True))
    # Ticks 2 and 3 were lost; Redis holds their prices.
    stored = [make_update("AAPL", 102.0, 101.0, 3.0), make_update("MSFT", 402.0, 401.0, 3.0)]
    await store.save(stored, FeedState("run1", 3, "simulator", 0.5, time.time(), time.time()), replace=True)
    await follower.handle(message(4, [("AAPL", 103.0, 102.0, 4.0)]))
    assert mirror.cache.get_price("AAPL") == 103.0
    assert mirror.cache.get("MSFT").price == 402.0
    assert mirror.cache.get("MSFT").previous_price == 401.0


async def test_tickers_runfeed_no_longer_tracks_leave_the_mirror(layer, store):
    mirror = mirror_feed(layer, store)
    follower = mirror.source
    await follower.handle(message(1, [("AAPL", 100.0, 100.0, 1.0), ("ZZZ", 5.0, 5.0, 1.0)], full=True))
    await follower.handle(message(2, [], tracked=["AAPL", "NEWCO"], unknown=["NEWCO"]))
    assert mirror.cache.tickers() == ["AAPL"]
    assert mirror.health()["tickers"] == 2
    assert mirror.unknown_tickers() == {"NEWCO"}


class MassiveLike(MarketDataSource):
    """A source that tracks two tickers and, like Massive, does not know one of them."""

    name, interval = "massive", 15.0

    def __init__(self, cache):
        pass

    async def start(self, tickers):
        pass

    async def stop(self):
        pass

    async def add_ticker(self, ticker):
        pass

    async def remove_ticker(self, ticker):
        pass

    def get_tickers(self):
        return ["AAPL", "NOPE"]

    def unknown_tickers(self):
        return {"NOPE"}


async def test_the_tickers_runfeeds_source_does_not_know_reach_the_mirrors(layer, store):
    async with Pair(layer, store) as pair:
        pair.owner.cache.remove_listener(pair.publisher.on_tick)
        await pair.publisher.stop()
        await pair.publish(Feed(source_factory=MassiveLike))
        pair.owner.cache.update("AAPL", 190.0)
        await eventually(lambda: pair.mirror.unknown_tickers() == {"NOPE"}, message="the unknown ticker")
        assert pair.mirror.health()["tickers"] == 2
    _, state = await store.load()
    assert state.unknown == ["NOPE"]


async def test_a_removed_ticker_is_published_as_gone(layer, store):
    async with Pair(layer, store) as pair:
        pair.owner.cache.update_many(["AAPL", "ZZZ"], [100.0, 5.0])
        await eventually(lambda: "ZZZ" in pair.mirror.cache, message="the first tick")
        pair.owner.cache.remove("ZZZ")
        pair.owner.cache.update("AAPL", 101.0)
        await eventually(lambda: "ZZZ" not in pair.mirror.cache, message="ZZZ to leave the mirror")
    prices, _ = await store.load()
    assert set(prices) == {"AAPL"}


async def test_a_starting_mirror_loads_the_last_prices_and_their_freshness(layer, store):
    long_ago = time.time() - 120
    await store.save(
        [make_update("AAPL", 123.45, 120.0, long_ago)],
        FeedState("run9", 42, "massive", 15.0, long_ago, long_ago),
        replace=True,
    )
    mirror = mirror_feed(layer, store)
    await mirror.source.load()
    assert mirror.cache.get("AAPL").previous_price == 120.0
    assert (mirror.source_name, mirror.interval) == ("massive", 15.0)
    assert mirror.is_stale()  # the feed that stored them has been silent for two minutes


async def test_published_prices_are_kept_in_redis_for_the_next_start(layer, store):
    async with Pair(layer, store) as pair:
        pair.owner.cache.update_many(["AAPL", "MSFT"], [190.0, 410.0], timestamp=1000.0)
        await eventually(lambda: pair.publisher.seq == 1, message="the first tick")
        await stored(store, {"AAPL", "MSFT"})  # the store write follows the send
    prices, state = await store.load()
    assert {t: u.price for t, u in prices.items()} == {"AAPL": 190.0, "MSFT": 410.0}
    assert (state.run, state.seq, state.source) == (pair.publisher.run, 1, "simulator")
    assert await store.tickers() == {"AAPL", "MSFT"}


async def test_a_redis_that_lost_its_data_gets_every_price_again(layer, store, redis_url):
    async with Pair(layer, store) as pair:
        pair.owner.cache.update_many(["AAPL", "MSFT"], [190.0, 410.0])
        await eventually(lambda: pair.publisher.seq == 1, message="the first tick")
        await stored(store, {"AAPL", "MSFT"})
        redis.Redis.from_url(redis_url).flushdb()  # as after a Redis restart without persistence
        pair.owner.cache.update("AAPL", 191.0)
        await eventually(lambda: pair.publisher.seq == 2, message="the second tick")
        await stored(store, {"AAPL", "MSFT"}, price_of_aapl=191.0)
    prices, _ = await store.load()
    assert {t: u.price for t, u in prices.items()} == {"AAPL": 191.0, "MSFT": 410.0}


async def test_a_recheck_request_reaches_runfeed_with_valid_tickers_only(layer):
    assert await request_recheck([" aapl", "not a ticker!", "BRK.B"], layer)
    assert await asyncio.wait_for(receive_recheck(layer), 2.0) == ["AAPL", "BRK.B"]


@pytest.mark.django_db(transaction=True)  # the feed reads the references of what changed
async def test_a_running_mirror_sends_ticker_changes_to_runfeed(monkeypatch):
    layer = InMemoryChannelLayer()
    monkeypatch.setattr(control, "feed_layer", lambda: layer)
    monkeypatch.delenv("REDIS_URL", raising=False)  # nothing stored to load
    mirror = Feed(source_factory=MirrorSource)
    await mirror.start()
    try:
        mirror.tickers_changed(["NVDA"])
        assert await asyncio.wait_for(receive_recheck(layer), 2.0) == ["NVDA"]
    finally:
        await mirror.stop()
    assert isinstance(mirror.source, MirrorSource)  # a mirror never runs a source of its own


def test_a_mirror_that_is_not_running_still_sends_ticker_changes():
    # e.g. a watchlist edited in `manage.py shell` under MARKET_FEED=external
    layer = InMemoryChannelLayer()
    Feed(source_factory=lambda cache: MirrorSource(cache, layer)).tickers_changed(["AMD"])
    assert layer.channels[control.CONTROL_CHANNEL].get_nowait()[1]["tickers"] == ["AMD"]


async def test_only_one_process_holds_the_leader_lock(redis_url):
    first, second = LeaderLock(connect(redis_url), ttl=1.0), LeaderLock(connect(redis_url), ttl=1.0)
    assert await first.acquire()
    assert not await second.acquire()
    assert await first.renew()
    assert not await second.renew()
    assert first.held() and not second.held()
    assert await second.holder() == first.token


async def test_a_waiting_process_takes_the_lock_when_the_leader_stops_renewing(redis_url):
    first, second = LeaderLock(connect(redis_url), ttl=0.3), LeaderLock(connect(redis_url), ttl=0.3)
    assert await first.acquire()
    # The leader stops renewing: its own lease lapses first, then Redis lets the key expire.
    await eventually(lambda: not first.held(), timeout=2.0, message="the leader's lease to lapse")
    await eventually(second.acquire, timeout=2.0, message="the waiting process to get the expired lock")
    assert not await first.renew()


async def test_a_released_lock_is_free_at_once(redis_url):
    first, second = LeaderLock(connect(redis_url), ttl=30), LeaderLock(connect(redis_url), ttl=30)
    assert await first.acquire()
    await second.release()  # not its lock: changes nothing
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()


async def test_a_killed_servers_channel_leaves_the_tick_group(layer, store, redis_url):
    # Looking into Redis needs channels-redis's key naming (pinned); the project itself never does.
    group_key = layer._group_key(control.TICKS_GROUP)
    client = redis.Redis.from_url(redis_url)
    client.zadd(group_key, {"specific.deadserver!gone": time.time() - 120})  # stopped re-joining long ago
    async with Pair(layer, store) as pair:
        pair.owner.cache.update("AAPL", 190.0)
        await eventually(lambda: pair.publisher.seq == 1, message="the first tick")
        await eventually(
            lambda: b"specific.deadserver!gone" not in client.zrange(group_key, 0, -1), message="the pruning"
        )
        assert len(client.zrange(group_key, 0, -1)) == 1  # the live follower stays


# The day's change in external mode


async def test_a_mirror_gets_the_previous_close_and_the_days_change(layer, store):
    async with Pair(layer, store) as pair:
        pair.owner.cache.set_previous_closes({"AAPL": 188.0})
        pair.owner.cache.update_many(["AAPL"], [190.0], timestamp=1000.0)
        await eventually(lambda: pair.mirror.cache.get_price("AAPL") == 190.0, message="the tick")
    mirrored = pair.mirror.cache.get("AAPL")
    assert (mirrored.previous_close, mirrored.day_change) == (188.0, 2.0)


async def test_a_new_previous_close_alone_reaches_the_mirrors(layer, store):
    async with Pair(layer, store) as pair:
        pair.owner.cache.update_many(["AAPL"], [190.0], timestamp=1000.0)
        await eventually(lambda: pair.mirror.cache.get_price("AAPL") == 190.0, message="the tick")
        pair.owner.cache.set_previous_closes({"AAPL": 185.5})  # midnight: the day's close
        await eventually(
            lambda: pair.mirror.cache.previous_close("AAPL") == 185.5, message="the new previous close"
        )
    assert pair.mirror.cache.get("AAPL").day_change == 4.5


async def test_a_mirror_still_reads_tick_messages_without_previous_closes(layer, store):
    mirror = mirror_feed(layer, store)
    await mirror.source.handle(message(1, [("AAPL", 190.0, 189.0, 1000.0)], full=True))
    update = mirror.cache.get("AAPL")
    assert (update.price, update.previous_price) == (190.0, 189.0)
    assert update.previous_close == 190.0  # unknown: the first price stands for it


async def test_the_last_prices_in_redis_keep_the_previous_close(layer, store):
    await store.save(
        [make_update("AAPL", 190.0, 189.0, 1000.0, previous_close=187.25)],
        FeedState("run1", 1, "simulator", 0.5, 1000.0, 1000.0),
        replace=True,
    )
    prices, _ = await store.load()
    assert prices["AAPL"].previous_close == 187.25


async def test_last_prices_an_older_runfeed_stored_are_still_read(store, redis_url):
    redis.Redis.from_url(redis_url).hset(PRICES_KEY, "AAPL", "[190.0, 189.0, 1000.0]")
    prices, _ = await store.load()
    assert (prices["AAPL"].price, prices["AAPL"].previous_close) == (190.0, None)
