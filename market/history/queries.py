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
read the daily bars (a daily bar's ``t`` is midnight America/New_York of its date).

The current bar is last and still moving: the database holds it as of the recorder's last
checkpoint (at most 5 s ago), and the latest price (this process's recorder's own minute where it
runs, else the cache's price) is laid over it.
"""

import time
from datetime import timedelta

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
        bars = _daily(ticker, first_day)
        kind, since = "day", calendar.day_start(first_day)
    bars = _with_current(bars, ticker, interval, live, now)
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


def _daily(ticker: str, first_day) -> list[list]:
    rows = (
        DailyBar.objects.filter(ticker=ticker, day__gte=first_day)
        .order_by("day")
        .values_list("day", "open", "high", "low", "close")
    )
    return [[calendar.day_start(day), o, h, lo, c] for day, o, h, lo, c in rows]


def _with_current(bars: list[list], ticker: str, interval: int, live, now: float) -> list[list]:
    """``bars`` with the latest price laid over the current bar (or a new one started by it)."""
    from .recorder import active_recorder

    recorder = active_recorder()
    minute = recorder.current_minute(ticker) if recorder is not None else None
    if minute is not None:
        start, o, h, lo, c = minute
    elif live is not None:
        start, o, h, lo, c = live.timestamp, live.price, live.price, live.price, live.price
    else:
        return bars
    bucket = (
        calendar.day_start(calendar.new_york_date(start)) if interval == DAY else start // interval * interval
    )
    bucket = int(bucket)
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
