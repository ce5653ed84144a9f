"""New York minutes and days, in Unix seconds.

America/New_York is UTC-5 or UTC-4, a whole number of hours, so a New York minute (and a 5-, 30- or
60-minute bucket) starts at the same instant as the UTC one: bucketing by minutes is integer
arithmetic on Unix seconds. A New York day is not: it starts at local midnight, lasts 23 or 25 hours
on the days DST starts or ends, and is found with ``zoneinfo``.
"""

import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
MINUTE = 60
DAY = 86400


def minute_start(timestamp: float) -> int:
    """The start (Unix seconds) of the minute holding ``timestamp``."""
    return int(timestamp // MINUTE) * MINUTE


def bucket_start(timestamp: float, seconds: int) -> int:
    """The start of the ``seconds``-long bucket holding ``timestamp`` (a divisor of an hour, or an hour)."""
    return int(timestamp // seconds) * seconds


def new_york_date(timestamp: float) -> date:
    """The New York calendar date at ``timestamp``."""
    return datetime.fromtimestamp(timestamp, NEW_YORK).date()


@functools.lru_cache(maxsize=8192)
def day_start(day: date) -> int:
    """Unix seconds of midnight America/New_York starting ``day`` (a daily bar's ``t``)."""
    return int(datetime.combine(day, time(), NEW_YORK).timestamp())


def day_bounds(timestamp: float) -> tuple[date, int, int]:
    """``(day, start, end)``: the New York day holding ``timestamp`` and its bounds in Unix seconds."""
    day = new_york_date(timestamp)
    return day, day_start(day), day_start(day + timedelta(days=1))
