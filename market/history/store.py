"""The database side of the bar recorder and the backfill: bulk writes in one statement, and the
reads a starting owner needs. Blocking (Django ORM connections): call it from a worker thread.

Each write is ONE statement whatever the number of rows: on SQLite an ``INSERT ... SELECT`` over
``json_each`` of one JSON parameter, on PostgreSQL an ``INSERT ... SELECT`` over ``unnest`` of one
array parameter per column; both end in ``ON CONFLICT``. (Django's ``bulk_create`` would split 5,000
rows into dozens of statements on SQLite, whose limit is 999 parameters, and its ``update_conflicts``
cannot say "keep the open, widen the high and low".) They go through the database driver's own
cursor: under ``DEBUG``, Django's would keep each statement with its values in ``connection.queries``.

Merging bars (``merge=True``): a bar written again keeps its ``open``, widens ``high`` and ``low``
and takes the new ``close``. That is right for the recorder's repeated writes of the current minute
and day, and for a restarted owner continuing a minute or a day another process began. Backfilled
bars (``merge=False``) only fill what is missing: recorded bars win.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from django.db import connection, transaction

from .models import DailyBar, HistoryCoverage, LatestPrice, MinuteBar

MINUTE_TABLE = MinuteBar._meta.db_table
DAILY_TABLE = DailyBar._meta.db_table
LATEST_TABLE = LatestPrice._meta.db_table
COVERAGE_TABLE = HistoryCoverage._meta.db_table
BAR_COLUMNS = ("open", "high", "low", "close")
_LOOKUP_CHUNK = 500

# (column, PostgreSQL array type) for each table written in bulk
_COLUMNS = {
    MINUTE_TABLE: (("ticker", "varchar"), ("start", "bigint"), *((c, "float8") for c in BAR_COLUMNS)),
    DAILY_TABLE: (("ticker", "varchar"), ("day", "date"), *((c, "float8") for c in BAR_COLUMNS)),
    LATEST_TABLE: (("ticker", "varchar"), ("price", "float8"), ("timestamp", "float8")),
    COVERAGE_TABLE: (
        ("ticker", "varchar"),
        ("kind", "varchar"),
        ("since", "bigint"),
        ("fetched_at", "float8"),
    ),
}
_KEYS = {
    MINUTE_TABLE: ("ticker", "start"),
    DAILY_TABLE: ("ticker", "day"),
    LATEST_TABLE: ("ticker",),
    COVERAGE_TABLE: ("ticker", "kind"),
}


def _conflict_action(table: str, merge: bool) -> str:
    if table in (MINUTE_TABLE, DAILY_TABLE):
        if not merge:
            return "DO NOTHING"
        if connection.vendor == "postgresql":
            widen = f"high = GREATEST({table}.high, EXCLUDED.high), low = LEAST({table}.low, EXCLUDED.low)"
        else:  # SQLite: unqualified names are the stored row's; max()/min() of two values are scalar
            widen = "high = max(high, excluded.high), low = min(low, excluded.low)"
        return f"DO UPDATE SET {widen}, close = excluded.close"
    keys = _KEYS[table]
    others = [column for column, _ in _COLUMNS[table] if column not in keys]
    return "DO UPDATE SET " + ", ".join(f"{column} = excluded.{column}" for column in others)


def _upsert(table: str, rows: Sequence[Sequence], merge: bool = True) -> int:
    """Write ``rows`` (tuples in the table's column order) in one statement. Returns the row count."""
    if not rows:
        return 0
    columns = _COLUMNS[table]
    names = ", ".join(column for column, _ in columns)
    conflict = f"ON CONFLICT ({', '.join(_KEYS[table])}) {_conflict_action(table, merge)}"
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {conflict}"
        by_column = zip(zip(*rows, strict=True), columns, strict=True)
        params = [_typed(values, kind) for values, (_, kind) in by_column]
    else:
        values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
        # "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the INSERT, not a join.
        sql = f"INSERT INTO {table} ({names}) SELECT {values} FROM json_each(%s) WHERE true {conflict}"
        params = [json.dumps([_jsonable(row) for row in rows])]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # The driver's cursor (Django's SQLite one still turns %s into ?): under DEBUG, Django's own
        # would keep a copy of each statement with its thousands of values in connection.queries.
        cursor.cursor.execute(sql, params)
    return len(rows)


def _typed(values: Sequence, kind: str) -> list:
    # psycopg dumps a list as one array type: 100 and 100.5 together would be refused.
    if kind == "float8":
        return [float(value) for value in values]
    if kind == "bigint":
        return [int(value) for value in values]
    return list(values)


def _jsonable(row: Sequence) -> list:
    return [value.isoformat() if isinstance(value, date) else value for value in row]


def write_minute_bars(rows: Sequence[tuple[str, int, float, float, float, float]], merge: bool = True) -> int:
    """``(ticker, start, open, high, low, close)`` rows, one statement."""
    return _upsert(MINUTE_TABLE, rows, merge)


def write_daily_bars(rows: Sequence[tuple[str, date, float, float, float, float]], merge: bool = True) -> int:
    """``(ticker, day, open, high, low, close)`` rows, one statement."""
    return _upsert(DAILY_TABLE, rows, merge)


def write_latest_prices(rows: Sequence[tuple[str, float, float]]) -> int:
    """``(ticker, price, timestamp)`` rows, one statement; a ticker's row is replaced."""
    return _upsert(LATEST_TABLE, rows)


def write_coverage(ticker: str, kind: str, since: int, fetched_at: float) -> None:
    """Record that ``kind`` bars of ``ticker`` were fetched from ``since`` on (keeps the earliest)."""
    with transaction.atomic():
        existing = HistoryCoverage.objects.filter(ticker=ticker, kind=kind).first()
        if existing is not None and existing.since <= since:
            HistoryCoverage.objects.filter(ticker=ticker, kind=kind).update(fetched_at=fetched_at)
            return
        _upsert(COVERAGE_TABLE, [(ticker, kind, since, fetched_at)])


def prune(minute_days: int, daily_days: int, now: float, today: date) -> tuple[int, int]:
    """Delete minute bars older than ``minute_days`` and daily bars older than ``daily_days``."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {MINUTE_TABLE} WHERE start < %s", [int(now - minute_days * 86400)])
        minutes = cursor.rowcount
        cursor.execute(f"DELETE FROM {DAILY_TABLE} WHERE day < %s", [today - timedelta(days=daily_days)])
        days = cursor.rowcount
    return minutes, days


def latest_prices() -> dict[str, tuple[float, float]]:
    """``{ticker: (price, timestamp)}`` of every ticker ever stored."""
    return {
        ticker: (price, ts)
        for ticker, price, ts in LatestPrice.objects.values_list("ticker", "price", "timestamp")
    }


def previous_closes(tickers: Iterable[str], today: date) -> dict[str, float]:
    """Each ticker's previous close as the contract defines it: the close of its latest daily bar before
    ``today``, else the first price of today (the open of today's daily bar, or of its first minute
    bar when today's daily bar is not written yet). Tickers with none of them are left out. One index
    seek per ticker and kind (correlated subqueries on the tables' keys), in chunks."""
    from .calendar import day_start

    tickers = sorted(set(tickers))
    found: dict[str, float] = {}
    since = day_start(today)
    for i in range(0, len(tickers), _LOOKUP_CHUNK):
        chunk = tickers[i : i + _LOOKUP_CHUNK]
        values = ", ".join(["(%s)"] * len(chunk))
        sql = (
            f"WITH wanted(ticker) AS (VALUES {values}) SELECT wanted.ticker, "
            f"(SELECT close FROM {DAILY_TABLE} d WHERE d.ticker = wanted.ticker AND d.day < %s "
            "ORDER BY d.day DESC LIMIT 1), "
            f"(SELECT open FROM {DAILY_TABLE} d WHERE d.ticker = wanted.ticker AND d.day = %s), "
            f"(SELECT open FROM {MINUTE_TABLE} m WHERE m.ticker = wanted.ticker AND m.start >= %s "
            "ORDER BY m.start LIMIT 1) FROM wanted"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*chunk, today, today, since])
            for ticker, *candidates in cursor.fetchall():
                value = next((v for v in candidates if v is not None), None)
                if value is not None:
                    found[ticker] = float(value)
    return found
