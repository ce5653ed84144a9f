"""The per-process feed's own rules (market.feed.Feed)."""

import pytest
from channels.layers import InMemoryChannelLayer
from django.db import DatabaseError

from market.external.mirror import MirrorSource
from market.feed import Feed
from market.listeners import TickListener
from market.seed_prices import DEFAULT_TICKERS
from tests.support import eventually


def failing_demand(tickers=None):
    raise DatabaseError("no such table: portfolio_watchlistentry")


@pytest.fixture
def demand_from_an_unmigrated_database(settings):
    settings.MARKET_TICKER_DEMAND = "tests.market.test_feed.failing_demand"


async def test_a_feed_whose_database_cannot_say_starts_with_the_default_ten(
    demand_from_an_unmigrated_database, caplog
):
    feed = Feed()
    await feed.start()
    try:
        assert sorted(feed.source.get_tickers()) == sorted(DEFAULT_TICKERS)
        assert set(feed.cache.tickers()) == set(DEFAULT_TICKERS)
        assert "starting with the default ten" in caplog.text
    finally:
        await feed.stop()


async def test_a_reconcile_that_cannot_read_the_database_keeps_the_tickers_it_has(
    demand_from_an_unmigrated_database,
):
    feed = Feed()
    await feed.start(tickers=[*DEFAULT_TICKERS, "ZZZZ"])
    try:
        with pytest.raises(DatabaseError):
            await feed.reconcile()
        assert "ZZZZ" in feed.source.get_tickers()
    finally:
        await feed.stop()


class RecordingListener(TickListener):
    """Records its life and the prices of every tick it hears."""

    instances: list["RecordingListener"] = []

    def __init__(self):
        self.events: list[str] = []
        self.ticks: list[dict[str, float]] = []
        RecordingListener.instances.append(self)

    async def start(self, feed):
        self.events.append("started" if not feed.source.running else "started after the source")

    def on_tick(self, batch):
        self.ticks.append(batch.written())

    async def stop(self):
        self.events.append("stopped")


class OwnerOnlyListener(RecordingListener):
    owner_only = True


@pytest.fixture
def listeners(settings):
    RecordingListener.instances = []
    settings.MARKET_TICKER_DEMAND = None
    settings.MARKET_PERIODIC_JOBS = []
    settings.MARKET_TICK_LISTENERS = [
        "tests.market.test_feed.RecordingListener",
        "tests.market.test_feed.OwnerOnlyListener",
    ]
    return RecordingListener.instances


async def test_the_feed_starts_its_tick_listeners_before_the_source_and_stops_them_after(listeners):
    feed = Feed()
    await feed.start(tickers=["AAPL", "MSFT"])
    try:
        await eventually(lambda: all(len(listener.ticks) >= 2 for listener in listeners), timeout=5)
    finally:
        await feed.stop()
    for listener in listeners:
        assert listener.events == ["started", "stopped"]
        assert all(tick.keys() == {"AAPL", "MSFT"} for tick in listener.ticks)
    assert listeners[0].ticks[-1] == {t: u.price for t, u in feed.cache.get_all().items()}
    count = len(listeners[0].ticks)
    feed.cache.update_many(["AAPL"], [1.0])
    assert len(listeners[0].ticks) == count  # a stopped feed's listeners hear nothing more


async def test_a_server_that_mirrors_runfeed_runs_no_owner_only_listener(listeners, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    layer = InMemoryChannelLayer()
    feed = Feed(source_factory=lambda cache: MirrorSource(cache, layer))
    await feed.start()
    try:
        feed.cache.update("AAPL", 190.0)  # what a tick from runfeed writes
    finally:
        await feed.stop()
    kinds = {type(listener): listener for listener in listeners}
    assert kinds[RecordingListener].ticks == [{"AAPL": 190.0}]
    assert kinds[OwnerOnlyListener].events == [] and kinds[OwnerOnlyListener].ticks == []


def twenty_tickers_referenced(tickers=None):
    wanted = [f"T{index:02d}" for index in range(20)]
    return {t: 1 for t in (wanted if tickers is None else tickers) if t in wanted}


async def test_the_feed_never_tracks_more_than_market_max_tickers(settings, monkeypatch, caplog):
    # What the portfolio app refuses can still reach the database by a side door (a bulk insert).
    settings.MARKET_TICKER_DEMAND = "tests.market.test_feed.twenty_tickers_referenced"
    settings.MARKET_PERIODIC_JOBS = []
    settings.MARKET_TICK_LISTENERS = []
    monkeypatch.setenv("MARKET_MAX_TICKERS", "15")
    feed = Feed()
    await feed.start()
    try:
        tracked = feed.source.get_tickers()
        assert len(tracked) == 15 and set(DEFAULT_TICKERS) <= set(tracked)
        await feed.reconcile()
        assert len(feed.source.get_tickers()) == 15
        assert "MARKET_MAX_TICKERS=15" in caplog.text
    finally:
        await feed.stop()
