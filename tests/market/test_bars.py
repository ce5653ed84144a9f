"""The bar recorder: one-minute and daily bars from ticks, the latest prices, restarts, pruning, trouble.

Real database, real writer thread: each test moves the recorder's clock and drives its timer by hand.
Database-sensitive, so it also runs on PostgreSQL (scripts/test's second pass).
"""

import asyncio
import logging
import sqlite3
import time
from datetime import date, timedelta

import pytest
from django.db import connection

from market.history import calendar
from market.models import DailyBar, LatestPrice, MinuteBar
from tests.market.history_support import StubFeed, StubSource, database, ny, started_recorder, write
from tests.support import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@database
def minute_bars(ticker: str | None = None) -> list[tuple]:
    rows = MinuteBar.objects.order_by("ticker", "start")
    if ticker:
        rows = rows.filter(ticker=ticker)
    return list(rows.values_list("ticker", "start", "open", "high", "low", "close"))


@database
def daily_bars(ticker: str | None = None) -> list[tuple]:
    rows = DailyBar.objects.order_by("ticker", "day")
    if ticker:
        rows = rows.filter(ticker=ticker)
    return list(rows.values_list("ticker", "day", "open", "high", "low", "close"))


@database
def latest_prices() -> dict[str, tuple[float, float]]:
    return {row.ticker: (row.price, row.timestamp) for row in LatestPrice.objects.all()}


@database
def create(model, **fields):
    return model.objects.create(**fields)


# Minutes


async def test_a_minute_bar_holds_the_first_highest_lowest_and_last_price_of_its_ticks():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    for offset, price in [(0.5, 100.0), (10, 103.0), (20, 98.5), (30, 99.0), (59.9, 101.0)]:
        write(cache, clock, t0 + offset, {"AAPL": price})
    await recorder.stop()
    assert await minute_bars() == [("AAPL", t0, 100.0, 103.0, 98.5, 101.0)]


async def test_a_tick_at_the_first_instant_of_a_minute_starts_the_next_bar():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    write(cache, clock, t0 + 59.999, {"AAPL": 100.0})
    write(cache, clock, t0 + 60.0, {"AAPL": 101.0})
    write(cache, clock, t0 + 61.0, {"AAPL": 100.5})
    await recorder.stop()
    assert await minute_bars() == [
        ("AAPL", t0, 100.0, 100.0, 100.0, 100.0),
        ("AAPL", t0 + 60, 101.0, 101.0, 100.5, 100.5),
    ]


async def test_every_ticker_of_a_tick_gets_its_own_bar():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    write(cache, clock, t0 + 1, {"AAPL": 100.0, "MSFT": 400.0})
    write(cache, clock, t0 + 2, {"AAPL": 99.0, "MSFT": 401.0})
    await recorder.stop()
    assert await minute_bars() == [
        ("AAPL", t0, 100.0, 100.0, 99.0, 99.0),
        ("MSFT", t0, 400.0, 401.0, 400.0, 401.0),
    ]


async def test_a_minute_with_no_tick_after_it_is_written_when_its_time_is_over():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    write(cache, clock, t0 + 5, {"AAPL": 100.0})
    recorder.tick_timer(t0 + 61)
    try:
        assert await eventually(minute_bars, timeout=5, message="the minute bar") == [
            ("AAPL", t0, 100.0, 100.0, 100.0, 100.0)
        ]
    finally:
        await recorder.stop()


async def test_a_restarted_owner_continues_the_minute_another_process_began():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    write(cache, clock, t0 + 1, {"AAPL": 100.0})
    write(cache, clock, t0 + 2, {"AAPL": 104.0})
    await recorder.stop()
    recorder, cache, clock = await started_recorder(t0 + 20, feed=StubFeed())
    write(cache, clock, t0 + 30, {"AAPL": 97.0})
    write(cache, clock, t0 + 40, {"AAPL": 102.0})
    await recorder.stop()
    assert await minute_bars() == [("AAPL", t0, 100.0, 104.0, 97.0, 102.0)]


async def test_a_minutes_end_writes_its_minute_bars_and_not_the_days():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    write(cache, clock, t0 + 1, {"AAPL": 100.0})
    recorder.tick_timer(t0 + 61)
    try:
        await eventually(minute_bars, timeout=5, message="the minute bar")
        assert await daily_bars() == []
    finally:
        await recorder.stop()


# New York days


async def test_the_days_bars_reach_the_database_every_5_minutes_without_a_stop():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    write(cache, clock, t0 + 1, {"AAPL": 100.0})
    write(cache, clock, t0 + 70, {"AAPL": 102.0})
    recorder.tick_timer(t0 + 150)  # half a period after the start, then every 5 minutes
    try:
        assert await eventually(daily_bars, timeout=5, message="the day's bar") == [
            ("AAPL", date(2026, 6, 1), 100.0, 102.0, 100.0, 102.0)
        ]
        write(cache, clock, t0 + 300, {"AAPL": 99.0})
        recorder.tick_timer(t0 + 451)
        assert await eventually(lambda: _low_is(99.0), timeout=5, message="the next write")
    finally:
        await recorder.stop()


async def _low_is(low: float) -> bool:
    bars = await daily_bars()
    return bool(bars) and bars[0][4] == low


def test_a_new_york_day_starts_at_local_midnight_and_lasts_23_or_25_hours_at_dst_changes():
    assert calendar.day_start(date(2026, 6, 1)) == ny(2026, 6, 1)
    assert calendar.day_start(date(2026, 6, 1)) % 86400 == 4 * 3600  # EDT: UTC-4
    assert calendar.day_start(date(2026, 1, 5)) % 86400 == 5 * 3600  # EST: UTC-5
    spring = calendar.day_start(date(2026, 3, 9)) - calendar.day_start(date(2026, 3, 8))
    autumn = calendar.day_start(date(2026, 11, 2)) - calendar.day_start(date(2026, 11, 1))
    assert (spring, autumn) == (23 * 3600, 25 * 3600)
    assert calendar.day_bounds(ny(2026, 3, 8, 23, 30)) == (
        date(2026, 3, 8),
        calendar.day_start(date(2026, 3, 8)),
        calendar.day_start(date(2026, 3, 9)),
    )


async def test_a_daily_bar_holds_the_new_york_day_and_not_the_utc_one():
    # 23:30 in New York is already the next day in UTC.
    evening, next_morning = ny(2026, 6, 1, 23, 30), ny(2026, 6, 2, 0, 0, 30)
    recorder, cache, clock = await started_recorder(ny(2026, 6, 1, 9, 30))
    write(cache, clock, ny(2026, 6, 1, 9, 30, 5), {"AAPL": 100.0})
    write(cache, clock, ny(2026, 6, 1, 12, 0, 5), {"AAPL": 110.0})
    write(cache, clock, evening, {"AAPL": 95.0})
    write(cache, clock, evening + 10, {"AAPL": 96.0})
    write(cache, clock, next_morning, {"AAPL": 97.0})
    await recorder.stop()
    assert await daily_bars() == [
        ("AAPL", date(2026, 6, 1), 100.0, 110.0, 95.0, 96.0),
        ("AAPL", date(2026, 6, 2), 97.0, 97.0, 97.0, 97.0),
    ]


@pytest.mark.parametrize(
    ("first", "last", "day"),
    [
        ((2026, 3, 8, 0, 30), (2026, 3, 8, 23, 30), date(2026, 3, 8)),  # DST starts: a 23-hour day
        ((2026, 11, 1, 0, 30), (2026, 11, 1, 23, 30), date(2026, 11, 1)),  # DST ends: a 25-hour day
    ],
    ids=["spring-forward", "fall-back"],
)
async def test_a_day_with_a_dst_change_is_one_daily_bar_from_midnight_to_midnight(first, last, day):
    recorder, cache, clock = await started_recorder(ny(*first))
    write(cache, clock, ny(*first) + 1, {"AAPL": 100.0})
    write(cache, clock, ny(*last), {"AAPL": 120.0})
    write(cache, clock, calendar.day_start(day + timedelta(days=1)) + 1, {"AAPL": 121.0})
    await recorder.stop()
    bars = await daily_bars()
    assert bars[0] == ("AAPL", day, 100.0, 120.0, 100.0, 120.0)
    assert bars[1][1] == day + timedelta(days=1)
    assert [bar[1] for bar in await minute_bars()] == [
        int(ny(*first)) // 60 * 60,
        int(ny(*last)),
        calendar.day_start(day + timedelta(days=1)),
    ]


# Previous closes


async def test_a_ticker_with_no_earlier_day_has_the_first_price_of_the_day_as_previous_close():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0, ["AAPL"])
    write(cache, clock, t0 + 1, {"AAPL": 100.0})
    write(cache, clock, t0 + 2, {"AAPL": 101.5})
    update = cache.get("AAPL")
    assert (update.previous_close, update.day_change, update.day_change_percent) == (100.0, 1.5, 1.5)
    await recorder.stop()


async def test_at_start_the_previous_close_is_the_close_of_the_latest_daily_bar_before_today():
    for day, close in [(date(2026, 5, 27), 90.0), (date(2026, 5, 29), 95.0), (date(2026, 6, 1), 99.0)]:
        await create(DailyBar, ticker="AAPL", day=day, open=close, high=close, low=close, close=close)
    await create(
        DailyBar, ticker="MSFT", day=date(2026, 6, 1), open=401.0, high=405.0, low=400.0, close=404.0
    )
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0, ["AAPL", "MSFT"])
    write(cache, clock, t0 + 1, {"AAPL": 96.9, "MSFT": 402.0})
    assert cache.get("AAPL").previous_close == 95.0
    assert cache.get("AAPL").day_change == 1.9
    assert cache.get("MSFT").previous_close == 401.0  # no earlier day: the first price of today
    await recorder.stop()


async def test_at_new_york_midnight_the_previous_close_becomes_the_close_of_the_day_that_ended():
    evening = ny(2026, 6, 1, 23, 59, 30)
    recorder, cache, clock = await started_recorder(evening, ["AAPL"])
    write(cache, clock, evening + 1, {"AAPL": 100.0})
    write(cache, clock, evening + 2, {"AAPL": 103.0})
    write(cache, clock, ny(2026, 6, 2, 0, 0, 1), {"AAPL": 104.0})
    try:
        assert await eventually(lambda: cache.get("AAPL").previous_close == 103.0, timeout=2)
        assert cache.get("AAPL").day_change == 1.0
    finally:
        await recorder.stop()


async def test_a_source_with_its_own_previous_closes_keeps_them_at_midnight():
    evening = ny(2026, 6, 1, 23, 59, 30)
    feed = StubFeed(source=StubSource(provides_previous_close=True))
    recorder, cache, clock = await started_recorder(evening, ["AAPL"], feed=feed)
    cache.set_previous_closes({"AAPL": 90.0})
    write(cache, clock, evening + 1, {"AAPL": 100.0})
    write(cache, clock, ny(2026, 6, 2, 0, 0, 1), {"AAPL": 104.0})
    await asyncio.sleep(0.05)
    assert cache.get("AAPL").previous_close == 90.0
    await recorder.stop()


async def test_a_ticker_added_later_gets_its_previous_close_from_the_stored_daily_bars():
    await create(DailyBar, ticker="PYPL", day=date(2026, 5, 29), open=70.0, high=71.0, low=69.0, close=70.5)
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0, ["AAPL"])
    write(cache, clock, t0 + 1, {"AAPL": 100.0})
    write(cache, clock, t0 + 2, {"AAPL": 100.0, "PYPL": 72.0})
    recorder.tick_timer(t0 + 3)
    try:
        assert await eventually(lambda: cache.get("PYPL").previous_close == 70.5, timeout=5)
    finally:
        await recorder.stop()


# Latest prices and restarts


async def test_the_latest_prices_reach_the_database_at_every_checkpoint():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    write(cache, clock, t0 + 1, {"AAPL": 100.0, "MSFT": 400.0})
    recorder.tick_timer(t0 + 5)
    try:
        stored = await eventually(latest_prices, timeout=5, message="the first checkpoint")
        assert stored == {"AAPL": (100.0, t0 + 5), "MSFT": (400.0, t0 + 5)}
        write(cache, clock, t0 + 7, {"AAPL": 101.0})
        recorder.tick_timer(t0 + 10)
        assert await eventually(lambda: _price_is(latest_prices, "AAPL", 101.0), timeout=5)
    finally:
        await recorder.stop()


async def _price_is(read, ticker, price) -> bool:
    return (await read()).get(ticker, (None,))[0] == price


async def test_a_clean_stop_stores_the_last_prices():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    write(cache, clock, t0 + 1, {"AAPL": 100.0})
    write(cache, clock, t0 + 2, {"AAPL": 100.75})
    await recorder.stop()
    assert (await latest_prices())["AAPL"][0] == 100.75


async def test_a_starting_recorder_resumes_the_source_and_the_cache_from_the_stored_prices():
    await create(LatestPrice, ticker="PYPL", price=172.16, timestamp=time.time() - 30)
    await create(LatestPrice, ticker="AAPL", price=191.25, timestamp=time.time() - 30)
    feed = StubFeed()
    recorder, cache, _ = await started_recorder(time.time(), ["PYPL"], feed=feed)
    assert feed.source.resumed == {"PYPL": 172.16, "AAPL": 191.25}  # AAPL: when it is added later
    assert cache.get("PYPL").price == 172.16
    assert cache.get("AAPL") is None  # not tracked: no price in the cache
    await recorder.stop()


async def test_a_newer_price_already_in_the_cache_wins_over_the_stored_one():
    # runfeed puts the prices it kept in Redis into the cache before the recorder starts.
    await create(LatestPrice, ticker="AAPL", price=150.0, timestamp=time.time() - 60)
    await create(LatestPrice, ticker="MSFT", price=410.0, timestamp=time.time() - 1)
    feed = StubFeed()
    feed.cache.update("AAPL", 190.0, timestamp=time.time() - 2)
    feed.cache.update("MSFT", 300.0, timestamp=time.time() - 30)
    recorder, cache, _ = await started_recorder(time.time(), ["AAPL", "MSFT"], feed=feed)
    assert (cache.get("AAPL").price, cache.get("MSFT").price) == (190.0, 410.0)
    assert feed.source.resumed == {"MSFT": 410.0}
    await recorder.stop()


# Pruning and trouble


async def test_bars_older_than_their_retention_are_pruned():
    now = ny(2026, 6, 10, 10, 0)
    for start in (now - 8 * 86400, now - 6 * 86400):
        await create(MinuteBar, ticker="AAPL", start=int(start), open=1, high=1, low=1, close=1)
    for day in (date(2026, 5, 1), date(2026, 6, 1)):
        await create(DailyBar, ticker="AAPL", day=day, open=1, high=1, low=1, close=1)
    recorder, cache, clock = await started_recorder(now, minute_days=7, daily_days=30)
    write(cache, clock, now + 1, {"AAPL": 100.0})
    recorder.tick_timer(now + 5)
    try:
        await eventually(lambda: _pruned(now - 7 * 86400), timeout=5, message="the prune")
        assert await _count(MinuteBar, start=int(now - 6 * 86400)) == 1
        assert await _count(DailyBar, day=date(2026, 5, 1)) == 0
        assert await _count(DailyBar, day=date(2026, 6, 1)) == 1
    finally:
        await recorder.stop()


async def _pruned(before: float) -> bool:
    return await _count(MinuteBar, start__lt=before) == 0


@database
def _count(model, **filters) -> int:
    return model.objects.filter(**filters).count()


@database
def _rename(table: str, to: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {to}")


async def test_a_database_that_goes_away_is_reported_once_and_gets_everything_when_it_is_back(caplog):
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    await _rename("market_minutebar", "market_minutebar_away")
    try:
        with caplog.at_level(logging.INFO, logger="market.history"):
            for second in range(1, 40, 5):
                write(cache, clock, t0 + second, {"AAPL": 100.0 + second})
                recorder.tick_timer(t0 + second + 4)
            recorder.tick_timer(t0 + 61)  # the minute ends while its table is away
            await eventually(lambda: "could not store" in caplog.text, timeout=5)
            for second in range(65, 200, 5):  # meanwhile more checkpoints and another minute
                write(cache, clock, t0 + second, {"AAPL": 150.0})
                recorder.tick_timer(t0 + second + 1)
            await asyncio.sleep(1.5)  # the writer retries meanwhile
    finally:
        await _rename("market_minutebar_away", "market_minutebar")
    try:
        with caplog.at_level(logging.INFO, logger="market.history"):
            bars = await eventually(minute_bars, timeout=10, message="the bars once the table is back")
            await eventually(lambda: "storing bars and prices again" in caplog.text, timeout=5)
        assert bars[0] == ("AAPL", t0, 101.0, 136.0, 101.0, 136.0)
        assert [bar[1] for bar in bars] == [t0, t0 + 60, t0 + 120]
        assert caplog.text.count("could not store bars") == 1
        assert (await latest_prices())["AAPL"][0] == 150.0
    finally:
        await recorder.stop()


@pytest.mark.sqlite_only
@pytest.mark.skipif(connection.vendor != "sqlite", reason="holds a SQLite write lock")
async def test_the_tick_path_never_waits_for_a_locked_database():
    t0 = ny(2026, 6, 1, 10, 0)
    recorder, cache, clock = await started_recorder(t0)
    blocker = sqlite3.connect(connection.settings_dict["NAME"], timeout=1)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        slowest = 0.0
        for second in range(0, 125):  # two minutes end meanwhile
            started = time.perf_counter()
            write(cache, clock, t0 + second, {"AAPL": 100.0 + second, "MSFT": 400.0})
            recorder.tick_timer(t0 + second + 0.5)
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.05, f"a tick took {slowest * 1000:.1f} ms"
    finally:
        blocker.rollback()
        blocker.close()
    try:

        async def both_minutes():
            bars = await minute_bars()
            return bars if len([bar for bar in bars if bar[0] == "AAPL"]) >= 2 else None

        bars = await eventually(both_minutes, timeout=30, message="both minutes once the lock is gone")
        assert [bar[1] for bar in bars if bar[0] == "AAPL"] == [t0, t0 + 60]
    finally:
        await recorder.stop()
