"""Stored market data: one-minute bars, daily bars, the latest price of each ticker, Massive fetches.

Prices are ``FloatField`` (double precision) on purpose: they are market data, published by the
sources as floats and served as JSON numbers, and the portfolio app turns a price into money itself
(``money.price_from_float``) when a trade or a valuation needs one. A double holds every cent of any
price exactly enough for that, costs 8 bytes, and MIN/MAX over it in the database need no decimal
arithmetic (PostgreSQL's ``numeric`` aggregates are several times slower, and SQLite stores decimals
as floats anyway).

Times are integers where the database does arithmetic on them: a minute bar's ``start`` is Unix
seconds (UTC by definition), so 5-, 30- and 60-minute buckets are ``start / 300 * 300`` on SQLite and
PostgreSQL alike. A daily bar is keyed by its New York trading date; its start (midnight
America/New_York) comes from ``market.history.calendar.day_start``.

Bars and coverage rows have composite primary keys (Django 5.2): the key is the index every read and
upsert uses, with no surrogate id column (20 million minute bars for 2,000 tickers over 7 days).
"""

from datetime import UTC, datetime

from django.db import models


class MinuteBar(models.Model):
    """One ticker's prices over one minute: the first, highest, lowest and last price written."""

    pk = models.CompositePrimaryKey("ticker", "start")
    ticker = models.CharField(max_length=10)
    start = models.BigIntegerField(help_text="Start of the minute, Unix seconds (UTC)")
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["start"], name="minute_bar_start")]  # pruning by age

    def __str__(self) -> str:
        return f"{self.ticker} {self.started_at:%Y-%m-%d %H:%M}Z {self.close}"

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)


class DailyBar(models.Model):
    """One ticker's prices over one New York day (it starts at midnight America/New_York)."""

    pk = models.CompositePrimaryKey("ticker", "day")
    ticker = models.CharField(max_length=10)
    day = models.DateField(help_text="The New York trading date")
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="daily_bar_day")]

    def __str__(self) -> str:
        return f"{self.ticker} {self.day} {self.close}"


class LatestPrice(models.Model):
    """The latest price of a ticker the feed tracked, stored at least every 5 s and on a clean stop.

    A restarted owner continues from it; a ticker with a row here has been tracked (the history
    endpoint's 404 is for tickers without one).
    """

    ticker = models.CharField(max_length=10, primary_key=True)
    price = models.FloatField()
    timestamp = models.FloatField(help_text="Unix seconds of the price")

    def __str__(self) -> str:
        return f"{self.ticker} {self.price}"


class HistoryCoverage(models.Model):
    """How far back Massive's aggregates were fetched for a ticker (``kind``: minute or day bars).

    Once fetched from ``since`` on, the history endpoint stops asking for that span: whatever the
    database holds there is all there is (weekends, holidays, a listing date).
    """

    class Kind(models.TextChoices):
        MINUTE = "minute"
        DAY = "day"

    pk = models.CompositePrimaryKey("ticker", "kind")
    ticker = models.CharField(max_length=10)
    kind = models.CharField(max_length=6, choices=Kind.choices)
    since = models.BigIntegerField(help_text="Fetched from this time on, Unix seconds")
    fetched_at = models.FloatField(help_text="Unix seconds of the fetch")

    def __str__(self) -> str:
        return f"{self.ticker} {self.kind} since {datetime.fromtimestamp(self.since, UTC):%Y-%m-%d %H:%M}Z"
