"""The per-process feed's own rules (market.feed.Feed)."""

import pytest
from django.db import DatabaseError

from market.feed import Feed
from market.seed_prices import DEFAULT_TICKERS


def failing_demand(tickers=None):
    raise DatabaseError("no such table: portfolio_watchlistentry")


@pytest.fixture
def demand_from_an_unmigrated_database(settings):
    settings.MARKET_TICKER_DEMAND = "tests.test_feed.failing_demand"


async def test_a_feed_whose_database_cannot_say_starts_with_the_default_ten(
    demand_from_an_unmigrated_database, caplog
):
    feed = Feed(role="owner")
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
    feed = Feed(role="owner")
    await feed.start(tickers=[*DEFAULT_TICKERS, "ZZZZ"])
    try:
        with pytest.raises(DatabaseError):
            await feed.reconcile()
        assert "ZZZZ" in feed.source.get_tickers()
    finally:
        await feed.stop()
