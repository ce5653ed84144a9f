"""market.history.store: every kind of row in one statement, bars merged or only filled in."""

from datetime import date

import psycopg
import pytest
from django.db import connection

from market.history import store
from market.models import DailyBar, LatestPrice, MinuteBar

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def statements(monkeypatch):
    """The SQL statements the database driver is given from now on (the store bypasses Django's
    debug cursor, so CaptureQueriesContext cannot see them)."""
    seen: list[str] = []
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        connection.connection.set_trace_callback(seen.append)
        yield seen
        connection.connection.set_trace_callback(None)
        return
    execute = psycopg.Cursor.execute

    def counting(self, query, *args, **kwargs):
        seen.append(str(query))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    yield seen


def inserts(seen: list[str]) -> list[str]:
    return [sql for sql in seen if sql.lstrip().upper().startswith("INSERT")]


def test_five_thousand_minute_bars_are_written_in_one_statement(statements):
    rows = [(f"T{i:04d}", 1_780_000_020, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i) for i in range(5000)]
    assert store.write_minute_bars(rows) == 5000
    assert len(inserts(statements)) == 1
    assert MinuteBar.objects.count() == 5000
    assert MinuteBar.objects.get(ticker="T4999").close == 5099.5


def test_daily_bars_and_latest_prices_are_each_one_statement_too(statements):
    days = [(f"T{i:04d}", date(2026, 6, 1), 1.0, 2.0, 0.5, 1.5) for i in range(5000)]
    latest = [(f"T{i:04d}", 1.5, 1_780_000_000.25) for i in range(5000)]
    store.write_daily_bars(days)
    store.write_latest_prices(latest)
    assert len(inserts(statements)) == 2
    assert DailyBar.objects.filter(day=date(2026, 6, 1)).count() == 5000
    assert LatestPrice.objects.get(ticker="T0042").timestamp == 1_780_000_000.25


def test_the_writes_leave_no_copy_of_their_values_in_the_debug_query_log(settings):
    settings.DEBUG = True
    connection.queries_log.clear()
    store.write_minute_bars([(f"T{i:04d}", 60, 1.0, 1.0, 1.0, 1.0) for i in range(5000)])
    assert sum(len(query["sql"]) for query in connection.queries) < 10_000


def test_a_bar_written_again_keeps_its_open_widens_its_range_and_takes_the_new_close():
    store.write_minute_bars([("AAPL", 60, 100.0, 102.0, 99.0, 101.0)])
    store.write_minute_bars([("AAPL", 60, 105.0, 103.0, 100.0, 100.5)])
    store.write_minute_bars([("AAPL", 60, 101.0, 101.0, 98.0, 98.5)])
    bar = MinuteBar.objects.get(ticker="AAPL", start=60)
    assert (bar.open, bar.high, bar.low, bar.close) == (100.0, 103.0, 98.0, 98.5)


def test_filling_in_bars_never_changes_a_stored_one():
    store.write_daily_bars([("AAPL", date(2026, 6, 1), 100.0, 102.0, 99.0, 101.0)])
    store.write_daily_bars(
        [("AAPL", date(2026, 6, 1), 1.0, 1.0, 1.0, 1.0), ("AAPL", date(2026, 6, 2), 2.0, 3.0, 1.0, 2.5)],
        merge=False,
    )
    assert list(DailyBar.objects.order_by("day").values_list("day", "open", "close")) == [
        (date(2026, 6, 1), 100.0, 101.0),
        (date(2026, 6, 2), 2.0, 2.5),
    ]


def test_a_latest_price_written_again_replaces_the_stored_one():
    store.write_latest_prices([("AAPL", 190.0, 10.0)])
    store.write_latest_prices([("AAPL", 191.5, 15.0)])
    assert store.latest_prices() == {"AAPL": (191.5, 15.0)}


def test_previous_closes_are_the_latest_close_before_today_else_the_open_of_today():
    store.write_daily_bars(
        [
            ("AAPL", date(2026, 5, 28), 1.0, 1.0, 1.0, 188.0),
            ("AAPL", date(2026, 5, 29), 1.0, 1.0, 1.0, 190.0),
            ("AAPL", date(2026, 6, 1), 191.0, 1.0, 1.0, 192.0),
            ("NEW", date(2026, 6, 1), 50.0, 51.0, 49.0, 50.5),
        ]
    )
    closes = store.previous_closes(["AAPL", "NEW", "NONE"], date(2026, 6, 1))
    assert closes == {"AAPL": 190.0, "NEW": 50.0}


def test_before_todays_daily_bar_is_written_the_previous_close_is_todays_first_minute():
    from market.history.calendar import day_start

    midnight = day_start(date(2026, 6, 1))
    store.write_minute_bars(
        [("NEW", midnight + 600, 50.0, 51.0, 49.0, 50.5), ("NEW", midnight + 660, 50.5, 51.0, 49.0, 50.7)]
    )
    store.write_minute_bars([("NEW", midnight - 60, 40.0, 41.0, 39.0, 40.5)])  # yesterday: no daily bar
    assert store.previous_closes(["NEW"], date(2026, 6, 1)) == {"NEW": 50.0}


@pytest.mark.postgres_only
def test_latest_prices_leave_room_on_their_pages_for_the_next_versions_on_postgresql():
    """Every latest price is rewritten every 5 s: a fillfactor of 50 lets PostgreSQL put each new
    version on its row's own page (a heap-only update, no index entry)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: scripts/test runs it in its PostgreSQL pass")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [LatestPrice._meta.db_table])
        (options,) = cursor.fetchone()
    assert "fillfactor=50" in (options or [])

    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
                [LatestPrice._meta.db_table],
            )
            return cursor.fetchone()

    store.write_latest_prices([("AAPL", 190.0, 1.0)])
    updated, hot = updates()
    for second in range(2, 12):
        store.write_latest_prices([("AAPL", 190.0 + second, float(second))])
    assert updates() == (updated + 10, hot + 10)  # every one of the ten a heap-only update
    assert LatestPrice.objects.get(ticker="AAPL").price == 201.0
