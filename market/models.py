"""The one data type that leaves the market data layer.

The market app keeps no ORM models: prices live in memory (``market.cache.PriceCache``).
"""

from dataclasses import dataclass


@dataclass(slots=True)
class PriceUpdate:
    """A single price update for one ticker."""

    ticker: str
    price: float
    previous_price: float
    timestamp: float  # Unix seconds
    change: float  # price - previous_price
    direction: str  # "up", "down" or "flat"

    def to_dict(self) -> dict:
        return {
            "ticker": self.ticker,
            "price": self.price,
            "previous_price": self.previous_price,
            "timestamp": self.timestamp,
            "change": self.change,
            "direction": self.direction,
        }


def direction_of(price: float, previous_price: float) -> str:
    if price > previous_price:
        return "up"
    if price < previous_price:
        return "down"
    return "flat"


def make_update(ticker: str, price: float, previous_price: float, timestamp: float) -> PriceUpdate:
    return PriceUpdate(
        ticker=ticker,
        price=price,
        previous_price=previous_price,
        timestamp=timestamp,
        change=price - previous_price,
        direction=direction_of(price, previous_price),
    )
