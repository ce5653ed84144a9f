"""market.history.queries: the history endpoint's bars, aggregated in the database in one query."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from market.feed import get_feed
from market.history import calendar, queries, store
from tests.market.history_support import ny

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = ny(2026, 6, 3, 10, 7, 30)  # a Wednesday, 10:07:30 in New York


def minutes(start: float, closes: list[float], ticker: str = "AAPL") -> list[tuple]:
    """Minute bars from ``start`` on, one per close: open a cent below, high +1, low -1."""
    first = int(start) // 60 * 60
    return [(ticker, first + 60 * i, c - 0.01, c + 1, c - 1, c) for i, c in enumerate(closes)]


@pytest.mark.parametrize(
    ("range_name", "interval"),
    [("1H", "1m"), ("1D", "5m"), ("5D", "30m"), ("1M", "1d"), ("6M", "1d"), ("1Y", "1d")],
)
def test_each_range_has_the_interval_the_server_picks_for_it(range_name, interval):
    store.write_minute_bars(minutes(NOW - 120, [100.0, 101.0]))
    get_feed().cache.update("AAPL", 101.5, timestamp=NOW)
    assert queries.history("AAPL", range_name, now=NOW)["interval"] == interval


def test_five_minute_bars_take_the_first_open_the_highest_high_the_lowest_low_and_the_last_close():
    bucket = ny(2026, 6, 3, 9, 55)
    rows = [
        ("AAPL", int(bucket), 100.0, 101.0, 99.5, 100.5),
        ("AAPL", int(bucket) + 60, 100.5, 104.0, 100.0, 103.0),
        ("AAPL", int(bucket) + 120, 103.0, 103.5, 97.0, 98.0),
        ("AAPL", int(bucket) + 240, 98.0, 99.0, 97.5, 98.75),
        ("AAPL", int(bucket) + 300, 98.75, 99.0, 98.5, 98.9),  # the next bucket
    ]
    store.write_minute_bars(list(reversed(rows)))  # the order they were written in does not matter
    bars = queries.history("AAPL", "1D", now=NOW)["bars"]
    assert bars == [
        {"t": int(bucket), "o": 100.0, "h": 104.0, "l": 97.0, "c": 98.75},
        {"t": int(bucket) + 300, "o": 98.75, "h": 99.0, "l": 98.5, "c": 98.9},
    ]


def test_bars_are_ascending_aligned_to_their_interval_and_within_the_range():
    store.write_minute_bars(minutes(NOW - 6 * 86400, [100.0 + (i % 50) for i in range(6 * 1440 + 1)]))
    for range_name, seconds in (("1H", 60), ("1D", 300), ("5D", 1800)):
        bars = queries.history("AAPL", range_name, now=NOW)["bars"]
        starts = [bar["t"] for bar in bars]
        assert starts == sorted(set(starts))
        assert all(t % seconds == 0 for t in starts)
        assert NOW - queries.RANGES[range_name][0] - seconds < starts[0] <= NOW < starts[-1] + seconds
        assert len(bars) == queries.RANGES[range_name][0] // seconds


def test_a_daily_bar_starts_at_midnight_in_new_york():
    store.write_daily_bars(
        [("AAPL", date(2026, 3, 6), 1, 2, 0.5, 1.5), ("AAPL", date(2026, 3, 9), 2, 3, 1, 2.5)]
    )
    bars = queries.history("AAPL", "6M", now=NOW)["bars"]
    assert [bar["t"] for bar in bars] == [ny(2026, 3, 6), ny(2026, 3, 9)]  # EST, then EDT


def test_a_range_never_has_more_than_500_bars():
    today = date(2026, 6, 3)
    store.write_daily_bars([("AAPL", today - timedelta(days=i), 1, 2, 0.5, 1.5) for i in range(700)])
    store.write_minute_bars(minutes(NOW - 2 * 86400, [100.0] * (2 * 1440)))
    for range_name in queries.RANGES:
        bars = queries.history("AAPL", range_name, now=NOW)["bars"]
        assert 0 < len(bars) <= 500
    assert len(queries.history("AAPL", "1Y", now=NOW)["bars"]) == 365


def test_the_bars_of_a_range_come_from_one_query():
    store.write_minute_bars(minutes(NOW - 3600, [100.0] * 60))
    get_feed().cache.update("AAPL", 100.5)
    for range_name in ("1D", "1Y"):
        with CaptureQueriesContext(connection) as captured:
            queries.history("AAPL", range_name, now=NOW)
        assert len(captured) == 1, [query["sql"] for query in captured]


def test_the_current_bar_is_last_and_moves_with_the_latest_price():
    store.write_minute_bars(minutes(NOW - 180, [100.0, 100.5, 101.0, 101.2]))  # the last one is NOW's
    cache = get_feed().cache
    cache.update("AAPL", 103.5, timestamp=NOW)
    last = queries.history("AAPL", "1H", now=NOW)["bars"][-1]
    assert last == {"t": int(NOW) // 60 * 60, "o": 101.19, "h": 103.5, "l": 100.2, "c": 103.5}
    cache.update("AAPL", 99.0, timestamp=NOW + 1)
    last = queries.history("AAPL", "1H", now=NOW + 1)["bars"][-1]
    assert (last["h"], last["l"], last["c"]) == (103.5, 99.0, 99.0)
    daily = queries.history("AAPL", "1M", now=NOW + 1)["bars"]
    assert daily[-1]["t"] == ny(2026, 6, 3) and daily[-1]["c"] == 99.0


def test_a_price_in_a_minute_the_database_does_not_have_yet_starts_a_new_bar():
    store.write_minute_bars(minutes(NOW - 600, [100.0]))
    get_feed().cache.update("AAPL", 100.25, timestamp=NOW)
    bars = queries.history("AAPL", "1H", now=NOW)["bars"]
    assert bars[-1] == {"t": int(NOW) // 60 * 60, "o": 100.25, "h": 100.25, "l": 100.25, "c": 100.25}


def test_the_previous_close_is_the_streams_for_a_tracked_ticker_and_the_stored_one_otherwise():
    store.write_daily_bars(
        [("AAPL", date(2026, 6, 2), 1, 2, 0.5, 188.0), ("MSFT", date(2026, 6, 2), 1, 2, 0.5, 400.0)]
    )
    get_feed().cache.set_previous_closes({"AAPL": 189.0})
    get_feed().cache.update("AAPL", 190.0, timestamp=NOW)
    assert queries.history("AAPL", "1D", now=NOW)["previous_close"] == 189.0
    store.write_latest_prices([("MSFT", 401.0, NOW - 3600)])
    assert queries.history("MSFT", "1D", now=NOW)["previous_close"] == 400.0


def test_a_ticker_never_tracked_has_no_history_and_one_tracked_once_has_an_empty_one():
    assert queries.history("ZZZZ", "1D", now=NOW) is None
    store.write_latest_prices([("ZZZZ", 10.0, NOW - 30 * 86400)])
    assert queries.history("ZZZZ", "1D", now=NOW)["bars"] == []


def test_with_the_simulator_nothing_is_ever_backfilling():
    get_feed().cache.update("AAPL", 190.0, timestamp=NOW)
    assert queries.history("AAPL", "1Y", now=NOW)["backfilling"] is False


def test_unknown_ranges_are_refused_with_the_ones_there_are():
    with pytest.raises(queries.BadRange, match="1H, 1D, 5D, 1M, 6M, 1Y"):
        queries.parse_range("2W")
    assert queries.parse_range("") == "1D"
    assert queries.parse_range("5d") == "5D"


def test_bucket_boundaries_are_the_same_in_new_york_and_utc():
    # New York is a whole number of hours from UTC: its 5, 30 and 60-minute buckets are UTC's.
    assert calendar.bucket_start(ny(2026, 6, 3, 9, 34, 59), 300) == ny(2026, 6, 3, 9, 30)
    assert calendar.bucket_start(ny(2026, 1, 5, 9, 59, 59), 1800) == ny(2026, 1, 5, 9, 30)


def test_todays_daily_bar_is_brought_up_to_the_last_finished_minute():
    today_open = ny(2026, 6, 3, 9, 30)
    store.write_daily_bars([("AAPL", date(2026, 6, 3), 100.0, 101.0, 99.5, 100.5)])  # as of a while ago
    store.write_minute_bars([("AAPL", int(NOW) // 60 * 60 - 120, 100.5, 105.0, 99.0, 104.0)])
    bars = queries.history("AAPL", "1M", now=NOW)["bars"]
    assert bars[-1] == {
        "t": calendar.day_start(date(2026, 6, 3)),
        "o": 100.0,
        "h": 105.0,
        "l": 99.0,
        "c": 104.0,
    }
    assert today_open > bars[-1]["t"]


def test_a_day_with_minute_bars_but_no_daily_bar_yet_is_drawn_from_them():
    store.write_minute_bars(minutes(ny(2026, 6, 3, 0, 1), [50.0, 52.0, 51.0]))
    bars = queries.history("AAPL", "1Y", now=NOW)["bars"]
    assert bars == [{"t": calendar.day_start(date(2026, 6, 3)), "o": 49.99, "h": 53.0, "l": 49.0, "c": 51.0}]
