"""With Massive: the previous close from the snapshot, and history the database lacks fetched from the
aggregates endpoint through the real ``massive`` client, stored, within the plan's rate limit.

Against tests/fake_massive.py, which speaks the snapshot and aggregates endpoints with Massive's
documented bodies and can enforce a rate limit (429 with Retry-After past it).
"""

import asyncio
import itertools
import time

import pytest
from channels.layers import InMemoryChannelLayer

from market.cache import PriceCache
from market.external import control
from market.external.runner import FeedRunner
from market.feed import Feed, reset_feed
from market.history import backfill, queries
from market.massive_budget import RequestBudget
from market.massive_client import MassiveDataSource
from market.models import DailyBar, HistoryCoverage, MinuteBar
from tests.fake_massive import FakeMassive, fake_massive_fixture  # noqa: F401
from tests.market.history_support import database
from tests.support import eventually

UNLIMITED = None


def source_for(fake: FakeMassive, interval: float = 0.25, limit=UNLIMITED, window: float = 60.0, cache=None):
    budget = RequestBudget(limit=limit, window=window)
    cache = cache if cache is not None else PriceCache()  # (an empty cache is falsy)
    return MassiveDataSource(fake.api_key, cache, interval, base_url=fake.url, budget=budget)


@database
def minute_bars(ticker: str) -> list[tuple]:
    rows = MinuteBar.objects.filter(ticker=ticker).order_by("start")
    return list(rows.values_list("start", "open", "high", "low", "close"))


@database
def count(model, **filters) -> int:
    return model.objects.filter(**filters).count()


@pytest.fixture(autouse=True)
def _fresh_requests():
    backfill.forget_requests()
    yield
    backfill.forget_requests()


# The previous close


async def test_the_previous_close_is_the_snapshots_previous_day_close(fake_massive):
    source = source_for(fake_massive)
    await source.start(["AAPL", "MSFT"])
    try:
        await eventually(lambda: "MSFT" in source._cache, message="the first poll")
        update = source._cache.get("AAPL")
        assert update.previous_close == FakeMassive.previous_close("AAPL")
        assert update.day_change == round(update.price - update.previous_close, 2)
    finally:
        await source.stop()


async def test_a_new_previous_close_alone_reaches_the_cache(fake_massive, monkeypatch):
    fake_massive.set_trade("AAPL", 191.0)
    source = source_for(fake_massive)
    await source.start(["AAPL"])
    try:
        await eventually(lambda: source._cache.previous_close("AAPL") == 190.0, message="the first poll")
        monkeypatch.setattr(FakeMassive, "previous_close", staticmethod(lambda ticker: 189.5))
        await eventually(lambda: source._cache.previous_close("AAPL") == 189.5, message="the new close")
        assert source._cache.get("AAPL").day_change == 1.5
    finally:
        await source.stop()


# Fetching history


@pytest.mark.django_db(transaction=True)
async def test_a_requested_span_of_minute_bars_is_fetched_and_stored_as_massive_sent_it(fake_massive):
    source = source_for(fake_massive)
    assert source.request_history("PYPL", "minute", int(time.time()) - 600)
    try:
        bars = await eventually(lambda: minute_bars("PYPL"), timeout=10, message="the stored bars")
        start, o, h, lo, c = bars[-1]
        expected = FakeMassive.bar_at("PYPL", start, 60)
        assert (o, h, lo, c) == (expected["o"], expected["h"], expected["l"], expected["c"])
        # The whole span the database keeps (7 days of minutes), in one request.
        assert bars[0][0] <= time.time() - 7 * 86400 + 120
        assert len(fake_massive.aggs_requests()) == 1
        request = fake_massive.aggs_requests()[0]
        assert request.path.startswith("/v2/aggs/ticker/PYPL/range/1/minute/")
        assert await count(HistoryCoverage, ticker="PYPL", kind="minute") == 1
    finally:
        await source.stop()


@pytest.mark.django_db(transaction=True)
async def test_every_page_of_a_long_answer_is_followed_and_stored(fake_massive):
    fake_massive.aggs_page_size = 2000
    source = source_for(fake_massive)
    source.request_history("PYPL", "minute", int(time.time()) - 600)
    try:
        await eventually(lambda: source.backfill.fetched == 1, timeout=20, message="the fetch")
        requests = fake_massive.aggs_requests()
        assert len(requests) == 6  # 10,080 minutes in pages of 2,000, each request counted by the budget
        starts = [int(r.target.split("?")[0].split("/")[-2]) for r in requests]
        assert starts == sorted(set(starts))  # each page continues where the one before ended
        assert await count(MinuteBar, ticker="PYPL") >= 7 * 1440 - 1
    finally:
        await source.stop()


@pytest.mark.django_db(transaction=True)
async def test_a_span_is_stored_whole_or_not_at_all(fake_massive, monkeypatch):
    # The history endpoint stops saying "backfilling" once the oldest bar of the range is stored: a
    # span written in several statements must not show its old half before the new one is in.
    from market.history import store

    monkeypatch.setattr(backfill, "WRITE_CHUNK", 4000)
    writes = []
    real_write = store.write_minute_bars

    def failing_third_write(rows, merge=True):
        writes.append(len(rows))
        if len(writes) == 3:
            raise OSError("disk full")
        return real_write(rows, merge=merge)

    monkeypatch.setattr(store, "write_minute_bars", failing_third_write)
    source = source_for(fake_massive)
    fetcher = backfill.Backfiller(source.new_client(), source.budget, minute_days=7, daily_days=365)
    with pytest.raises(OSError, match="disk full"):
        await database(fetcher.fetch)("PYPL", "minute", int(time.time()) - 600)
    assert writes == [4000, 4000, writes[2]] and writes[2] > 0
    assert await count(MinuteBar, ticker="PYPL") == 0
    assert await count(HistoryCoverage, ticker="PYPL") == 0

    monkeypatch.setattr(store, "write_minute_bars", real_write)
    stored = await database(fetcher.fetch)("PYPL", "minute", int(time.time()) - 600)
    assert stored >= 7 * 1440 - 1 and await count(MinuteBar, ticker="PYPL") == stored
    assert await count(HistoryCoverage, ticker="PYPL", kind="minute") == 1


@pytest.mark.django_db(transaction=True)
async def test_daily_bars_are_fetched_for_at_least_a_year_and_dated_in_new_york(fake_massive):
    source = source_for(fake_massive)
    source.request_history("PYPL", "day", int(time.time()) - 30 * 86400)
    try:
        await eventually(lambda: source.backfill.fetched == 1, timeout=10, message="the fetch")
        request = fake_massive.aggs_requests()[0]
        assert "/range/1/day/" in request.path
        days = await database(
            lambda: list(DailyBar.objects.filter(ticker="PYPL").values_list("day", flat=True))
        )()
        assert len(days) >= 250 and all(day.weekday() < 5 for day in days)
    finally:
        await source.stop()


@pytest.mark.django_db(transaction=True)
async def test_recorded_bars_win_over_fetched_ones(fake_massive):
    start = int(time.time()) // 60 * 60 - 300
    await database(
        lambda: MinuteBar.objects.create(ticker="PYPL", start=start, open=1, high=2, low=0.5, close=1.5)
    )()
    source = source_for(fake_massive)
    source.request_history("PYPL", "minute", start)
    try:
        await eventually(lambda: source.backfill.fetched == 1, timeout=10, message="the fetch")
        bars = dict((row[0], row[1:]) for row in await minute_bars("PYPL"))
        assert bars[start] == (1.0, 2.0, 0.5, 1.5)
    finally:
        await source.stop()


# The rate budget


def windows(times: list[float], window: float) -> int:
    """The most requests in any window of ``window`` seconds."""
    return max((sum(1 for t in times if first <= t < first + window) for first in times), default=0)


@pytest.mark.django_db(transaction=True)
async def test_backfills_share_the_plans_limit_with_the_poll_which_keeps_its_cadence(fake_massive):
    # A plan of 5 requests per 2 s (Massive's free plan: per minute); the poll every 0.5 s takes 4.
    fake_massive.rate_limit(5, window=1.95)  # a shade stricter than the client's count, for clock skew
    source = source_for(fake_massive, interval=0.5, limit=5, window=2.0)
    await source.start(["AAPL"])
    try:
        await eventually(lambda: "AAPL" in source._cache, message="the first poll")
        for ticker in ("PYPL", "SHOP", "UBER"):
            source.request_history(ticker, "minute", int(time.time()) - 600)
        await eventually(lambda: source.backfill.fetched == 3, timeout=20, message="three fetches")
    finally:
        await source.stop()
    requests = fake_massive.requests
    assert [r for r in requests if r.status == 429] == []
    # (Arrival times at the fake: a request sent as one left the client's 2 s window may arrive a hair
    # less than 2 s after it, hence the 1.95 s windows here and in the fake.)
    assert windows([r.time for r in requests], 1.95) <= 5
    polls = [r.time for r in fake_massive.snapshot_requests()]
    assert max(b - a for a, b in itertools.pairwise(polls)) < 0.5 + 0.35  # never starved
    fetches = [r.time for r in fake_massive.aggs_requests()]
    assert min(b - a for a, b in itertools.pairwise(fetches)) > 1.5  # one spare request per window


@pytest.mark.django_db(transaction=True)
async def test_a_429_pauses_backfills_for_its_retry_after_and_they_finish_afterwards(fake_massive):
    # The client believes in 10 requests per 2 s; Massive allows 3 and says "wait 1 s".
    fake_massive.rate_limit(3, window=2.0, retry_after=1.0)
    source = source_for(fake_massive, interval=60, limit=10, window=2.0)
    try:
        for ticker in ("PYPL", "SHOP", "UBER", "LYFT", "ABNB"):
            source.request_history(ticker, "minute", int(time.time()) - 600)
        await eventually(lambda: source.backfill.fetched == 5, timeout=30, message="five fetches")
    finally:
        await source.stop()
    answered = [(r.time, r.status) for r in fake_massive.aggs_requests()]
    refused = [t for t, status in answered if status == 429]
    assert refused, "the test needs Massive to refuse one"
    for at in refused:
        later = [t for t, _ in answered if t > at]
        assert not later or later[0] - at >= 0.95


# The history endpoint with Massive


@pytest.mark.django_db(transaction=True)
async def test_the_endpoint_serves_what_the_database_has_and_says_the_rest_is_coming(fake_massive):
    feed = reset_feed(Feed(source_factory=lambda cache: source_for(fake_massive, cache=cache)))
    await feed.start(tickers=["PYPL"])
    try:
        await eventually(lambda: "PYPL" in feed.cache, message="the first poll")
        first = await database(queries.history)("PYPL", "5D")
        assert first["backfilling"] is True
        assert len(first["bars"]) <= 1  # the current bar only, for now

        async def complete():
            body = await database(queries.history)("PYPL", "5D")
            return body if not body["backfilling"] else None

        body = await eventually(complete, timeout=15, message="the backfilled history")
        assert len(body["bars"]) >= 239
        assert body["previous_close"] == FakeMassive.previous_close("PYPL")
    finally:
        await feed.stop()


@pytest.mark.django_db(transaction=True)
async def test_the_endpoint_asks_once_for_a_span_massive_has_nothing_for(fake_massive):
    fake_massive.aggs_since = time.time() - 3600  # listed an hour ago
    feed = reset_feed(Feed(source_factory=lambda cache: source_for(fake_massive, cache=cache)))
    await feed.start(tickers=["NEWCO"])
    try:
        await eventually(lambda: "NEWCO" in feed.cache, message="the first poll")
        assert (await database(queries.history)("NEWCO", "1D"))["backfilling"] is True
        await eventually(lambda: feed.source.backfill.fetched == 1, timeout=10, message="the fetch")
        backfill.forget_requests()
        assert (await database(queries.history)("NEWCO", "1D"))["backfilling"] is False
        assert len(fake_massive.aggs_requests()) == 1
    finally:
        await feed.stop()


# External mode: runfeed owns the source and its budget


async def test_a_servers_history_request_reaches_runfeeds_source():
    layer = InMemoryChannelLayer()
    asked = []

    class Source:
        def request_history(self, ticker, kind, since):
            asked.append((ticker, kind, since))
            return True

    feed = Feed(source_factory=lambda cache: source_for(FakeMassive(), cache=cache))
    feed.source = Source()
    runner = FeedRunner(say=lambda line: None)
    runner.layer = layer
    following = asyncio.create_task(runner._follow_control(feed))
    try:
        await layer.send(control.CONTROL_CHANNEL, {"type": control.HISTORY, "ticker": 7, "kind": "day"})
        assert control.request_history("pypl", "minute", 1_780_000_000, layer)
        await eventually(lambda: asked, message="the request at runfeed")
        assert asked == [("PYPL", "minute", 1_780_000_000)]  # the malformed one was skipped
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)


def test_a_mirror_passes_history_requests_on_to_runfeed():
    from market.external.mirror import MirrorSource

    layer = InMemoryChannelLayer()
    mirror = MirrorSource(PriceCache(), layer, store=None)
    assert mirror.request_history("PYPL", "day", 1_780_000_000)

    assert asyncio.run(control.receive_control(layer)) == ("history", ("PYPL", "day", 1_780_000_000))


def test_a_simulator_has_no_history_to_fetch():
    feed = Feed()
    assert feed.source.request_history("AAPL", "day", 0) is False
