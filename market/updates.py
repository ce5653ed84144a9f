"""The one data type that leaves the market data layer: ``PriceUpdate`` (exported by ``market.models``).

The seed's dataclass, plus the day's change (``previous_close``, ``day_change``, ``day_change_percent``),
which have defaults so the seed's constructor still works. This module imports nothing of Django, so
the cache, the sources and the benchmarks use it without settings.
"""

from dataclasses import dataclass


@dataclass(slots=True)
class PriceUpdate:
    """A single price update for one ticker.

    ``previous_close`` is the close of the ticker's latest daily bar before the current New York day
    (with Massive, the snapshot's previous-day close; a ticker with no earlier day: the first price of
    the current day); None when unknown. Given ``previous_close`` alone, ``day_change`` (price minus
    it, rounded to the cent) and ``day_change_percent`` (1.25 means +1.25 %) are computed from it.
    """

    ticker: str
    price: float
    previous_price: float
    timestamp: float  # Unix seconds
    change: float  # price - previous_price
    direction: str  # "up", "down" or "flat"
    previous_close: float | None = None
    day_change: float | None = None
    day_change_percent: float | None = None

    def __post_init__(self):
        if self.previous_close is not None and self.day_change is None:
            self.day_change, self.day_change_percent = day_change_of(self.price, self.previous_close)

    def to_dict(self) -> dict:
        return {
            "ticker": self.ticker,
            "price": self.price,
            "previous_price": self.previous_price,
            "timestamp": self.timestamp,
            "change": self.change,
            "direction": self.direction,
            "previous_close": self.previous_close,
            "day_change": self.day_change,
            "day_change_percent": self.day_change_percent,
        }


def direction_of(price: float, previous_price: float) -> str:
    if price > previous_price:
        return "up"
    if price < previous_price:
        return "down"
    return "flat"


def day_change_of(price: float, previous_close: float) -> tuple[float, float]:
    """``(price - previous_close`` rounded to the cent, the change in percent of ``previous_close)``."""
    difference = price - previous_close
    percent = difference / previous_close * 100 if previous_close else 0.0
    return round(difference, 2) + 0.0, percent + 0.0  # + 0.0: never a negative zero


def make_update(
    ticker: str,
    price: float,
    previous_price: float,
    timestamp: float,
    previous_close: float | None = None,
) -> PriceUpdate:
    return PriceUpdate(
        ticker=ticker,
        price=price,
        previous_price=previous_price,
        timestamp=timestamp,
        change=price - previous_price,
        direction=direction_of(price, previous_price),
        previous_close=previous_close,
    )
