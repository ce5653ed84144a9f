"""The valuation rule, written once: a position counts at its live price, or at its cost without one.

Every amount is rounded down to the cent, so no figure shows more than exact arithmetic gives:
``cost_basis`` and ``market_value`` are quantity x average cost and quantity x price rounded down,
``unrealized_pnl`` is the exact quantity x (price - average cost) rounded down (so it may differ by a
cent from ``market_value - cost_basis``), ``unrealized_pnl_percent`` is rounded down to 2 places.

``portfolio_summary`` (pages, the API, the header) and the value snapshots both value positions here.
Live prices are floats from ``market.prices``; everything returned is Decimal money.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .money import percent_change, pnl_in_cents, price_from_float, value_in_cents


@dataclass(frozen=True, slots=True)
class PositionValue:
    price: Decimal | None  # the live price, None without one
    cost_basis: Decimal
    market_value: Decimal | None  # None without a live price
    unrealized_pnl: Decimal | None
    unrealized_pnl_percent: Decimal | None

    @property
    def counted(self) -> Decimal:
        """What the position counts for in a portfolio's value: its market value, else its cost."""
        return self.market_value if self.market_value is not None else self.cost_basis


def value_position(quantity: Decimal, avg_cost: Decimal, live_price: float | None) -> PositionValue:
    cost_basis = value_in_cents(quantity, avg_cost)
    if live_price is None:
        return PositionValue(None, cost_basis, None, None, None)
    price = price_from_float(live_price)
    market_value = value_in_cents(quantity, price)
    pnl = pnl_in_cents(quantity, price, avg_cost)
    return PositionValue(price, cost_basis, market_value, pnl, percent_change(price, avg_cost))


def portfolio_value(cash: Decimal, positions: Iterable, live_prices: Mapping[str, float]) -> Decimal:
    """Cash plus every position (objects with ``ticker``, ``quantity``, ``avg_cost``) as counted above."""
    total = cash
    for position in positions:
        total += value_position(
            position.quantity, position.avg_cost, live_prices.get(position.ticker)
        ).counted
    return total
