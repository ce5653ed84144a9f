"""Price history for ``GET /api/history/<ticker>/?range=R``, aggregated in the database in one query.

Each range is a trailing window ending now, with the interval the server picks for it:

| range | window | interval | bars (at most) |
|---|---|---|---|
| 1H | 60 minutes | 1m | 60 |
| 1D | 24 hours | 5m | 288 |
| 5D | 5 days | 30m | 240 |
| 1M | 30 days | 1d | 30 |
| 6M | 183 days | 1d | 183 |
| 1Y | 365 days | 1d | 365 |

Intraday ranges aggregate the one-minute bars (kept ``MARKET_MINUTE_BARS_DAYS``, 7 by default, which
is why 1M is drawn from daily bars): the bucket is integer arithmetic on the bar's start in Unix
seconds (``start / 300 * 300``; New York's offset is whole hours, so these are New York buckets
too), the high and low are MAX and MIN, and the open and close are the first and last bar's, picked
by window functions (``FIRST_VALUE ... ORDER BY start`` and ``ORDER BY start DESC``) inside the same
query: SQLite and PostgreSQL alike, one index range scan on the (ticker, start) key. Daily ranges
read the daily bars (a daily bar's ``t`` is midnight America/New_York of its date), and in the same
query (``UNION ALL``) today's minute bars' first open, MAX high, MIN low and last close, which bring
today's stored bar up to the last finished minute.

The current bar is last and still moving: the database holds every finished minute (the recorder
writes each at its end), and the current minute's ticks, from the cache's recent history (every
process has it, a server following runfeed too), are laid over the last bar or start a new one.
"""

import time
from datetime import date, timedelta

from django.db import connection

from ..feed import get_feed
from . import backfill, calendar, store
from .models import DailyBar, LatestPrice, MinuteBar

MAX_BARS = 500
DEFAULT_RANGE = "1D"
DAY = 86400

# range -> (window in seconds, interval in seconds)
RANGES: dict[str, tuple[int, int]] = {
    "1H": (3600, 60),
    "1D": (DAY, 300),
    "5D": (5 * DAY, 1800),
    "1M": (30 * DAY, DAY),
    "6M": (183 * DAY, DAY),
    "1Y": (365 * DAY, DAY),
}
INTERVAL_NAMES = {60: "1m", 300: "5m", 1800: "30m", 3600: "1h", DAY: "1d"}

_MINUTES = MinuteBar._meta.db_table
_DAYS = DailyBar._meta.db_table


class BadRange(ValueError):
    """A range that is not one of ``RANGES``; the message lists them."""


def parse_range(raw: str | None) -> str:
    """The range named by ``raw`` (``DEFAULT_RANGE`` when blank; case does not matter)."""
    name = (raw or "").strip().upper() or DEFAULT_RANGE
    if name not in RANGES:
        raise BadRange(f"range must be one of {', '.join(RANGES)}, got {(raw or '')[:20]!r}")
    return name


def history(ticker: str, range_name: str, now: float | None = None) -> dict | None:
    """The body of ``GET /api/history/<ticker>/`` for a valid ticker and range, or None when the ticker
    has never been tracked. Beyond the contract's keys, ``backfilling`` says whether history the
    database lacks is being fetched from Massive (ask again in a few seconds)."""
    now = time.time() if now is None else now
    window, interval = RANGES[range_name]
    live = get_feed().cache.get(ticker)
    if interval < DAY:
        first = calendar.bucket_start(now, interval) - (window // interval - 1) * interval
        bars = _intraday(ticker, first, interval)
        kind, since = "minute", max(first, int(now) - store_days("minute") * DAY)
    else:
        today = calendar.new_york_date(now)
        first_day = today - timedelta(days=window // DAY - 1)
        bars = _daily(ticker, first_day, now)
        kind, since = "day", calendar.day_start(first_day)
    bars = _with_current(bars, ticker, interval, now)
    if not bars and live is None and not _ever_tracked(ticker):
        return None
    previous_close = live.previous_close if live is not None else None
    if previous_close is None:
        previous_close = store.previous_closes([ticker], calendar.new_york_date(now)).get(ticker)
    return {
        "ticker": ticker,
        "range": range_name,
        "interval": INTERVAL_NAMES[interval],
        "previous_close": previous_close,
        "bars": [{"t": t, "o": o, "h": h, "l": lo, "c": c} for t, o, h, lo, c in bars[-MAX_BARS:]],
        "backfilling": backfill.ensure(ticker, kind, since, bars, now),
    }


def store_days(kind: str) -> int:
    from .. import config

    return config.minute_bars_days() if kind == "minute" else config.daily_bars_days()


def _intraday(ticker: str, first: int, interval: int) -> list[list]:
    if interval == 60:  # one-minute bars as stored
        sql = (
            f"SELECT start, open, high, low, close FROM {_MINUTES} "
            "WHERE ticker = %s AND start >= %s ORDER BY start"
        )
    else:
        bucket = f"start / {int(interval)} * {int(interval)}"  # an integer from RANGES, never input
        sql = (
            "SELECT bucket, MIN(first_open), MAX(high), MIN(low), MIN(last_close) FROM ("
            f"SELECT {bucket} AS bucket, high, low, "
            f"FIRST_VALUE(open) OVER (PARTITION BY {bucket} ORDER BY start) AS first_open, "
            f"FIRST_VALUE(close) OVER (PARTITION BY {bucket} ORDER BY start DESC) AS last_close "
            f"FROM {_MINUTES} WHERE ticker = %s AND start >= %s"
            ") AS minutes GROUP BY bucket ORDER BY bucket"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ticker, first])
        return [list(row) for row in cursor.fetchall()]


def _daily(ticker: str, first_day, now: float) -> list[list]:
    """Daily bars from ``first_day`` on, today's built from today's minute bars too (the recorder
    writes the day's bar every few minutes; its minutes are written as each ends): one query."""
    today, today_start, _ = calendar.day_bounds(now)
    minutes = f"FROM {_MINUTES} WHERE ticker = %s AND start >= %s"
    sql = (
        f"SELECT day, open, high, low, close FROM {_DAYS} WHERE ticker = %s AND day >= %s "
        "UNION ALL "
        f"SELECT NULL, (SELECT open {minutes} ORDER BY start LIMIT 1), MAX(high), MIN(low), "
        f"(SELECT close {minutes} ORDER BY start DESC LIMIT 1) {minutes}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [ticker, first_day, ticker, today_start, ticker, today_start, ticker, today_start]
        )
        rows = cursor.fetchall()
    days = {}
    today_minutes = None
    for day, o, h, lo, c in rows:
        if day is None:
            today_minutes = (o, h, lo, c) if o is not None else None
        else:
            day = date.fromisoformat(day) if isinstance(day, str) else day
            days[day] = [calendar.day_start(day), o, h, lo, c]
    if today_minutes is not None:
        o, h, lo, c = today_minutes
        stored = days.get(today)
        if stored is None:
            days[today] = [today_start, o, h, lo, c]
        else:  # the stored day began earlier (its open stands); the minutes are more recent
            stored[2], stored[3], stored[4] = max(stored[2], h), min(stored[3], lo), c
    return [days[day] for day in sorted(days)]


def _with_current(bars: list[list], ticker: str, interval: int, now: float) -> list[list]:
    """``bars`` with the current minute's ticks (from the cache's recent history, in any process)
    laid over the current bar, or starting it. The database holds every finished minute."""
    minute = calendar.minute_start(now)
    points = [price for ts, price in get_feed().cache.history(ticker) if ts >= minute]
    if not points:
        return bars
    o, h, lo, c = points[0], max(points), min(points), points[-1]
    bucket = (
        calendar.day_start(calendar.new_york_date(now)) if interval == DAY else minute // interval * interval
    )
    if bars and bars[-1][0] == bucket:
        last = bars[-1]
        last[2], last[3], last[4] = max(last[2], h), min(last[3], lo), c
    elif not bars or bars[-1][0] < bucket:
        bars.append([bucket, o, h, lo, c])
    return bars


def _ever_tracked(ticker: str) -> bool:
    return (
        LatestPrice.objects.filter(ticker=ticker).exists() or DailyBar.objects.filter(ticker=ticker).exists()
    )
