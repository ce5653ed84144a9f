"""Display helpers for the pages: money and price formatting, sparkline geometry, the header's account.

Formatting happens here, from Decimals, so templates never do arithmetic and never see floats of money.
"""

from decimal import Decimal

from django import template

from portfolio import selectors
from portfolio.money import format_quantity

register = template.Library()

SPARKLINE_POINTS = 120
SPARKLINE_HEIGHT = 24
CHART_HEIGHT = 40


def _number(value) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


@register.filter
def money(value) -> str:
    """``Decimal("-1234.5")`` -> ``"-$1,234.50"``; None -> an em dash."""
    amount = _number(value)
    if amount is None:
        return "—"
    return f"{'-' if amount < 0 else ''}${abs(amount):,.2f}"


@register.filter
def signed_money(value) -> str:
    """Money with an explicit sign: ``"+$12.00"``, ``"-$3.10"``, ``"$0.00"``."""
    amount = _number(value)
    if amount is None:
        return "—"
    sign = "+" if amount > 0 else "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


@register.filter
def price(value) -> str:
    """A price to the cent with thousands separators: ``"1,234.50"``."""
    amount = _number(value)
    return "—" if amount is None else f"{amount:,.2f}"


@register.filter
def signed(value) -> str:
    amount = _number(value)
    if amount is None:
        return "—"
    sign = "+" if amount > 0 else "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,.2f}"


@register.filter
def percent(value) -> str:
    amount = _number(value)
    if amount is None:
        return "—"
    sign = "+" if amount > 0 else "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,.2f}%"


@register.filter
def quantity(value) -> str:
    amount = _number(value)
    return "—" if amount is None else format_quantity(amount)


@register.filter
def sign(value) -> str:
    """``"up"``, ``"down"`` or ``"flat"``: the CSS hook colouring a figure."""
    amount = _number(value)
    if not amount:
        return "flat"
    return "up" if amount > 0 else "down"


def series_points(values: list[float], height: float) -> str:
    """SVG polyline points for ``values`` in a 100 x ``height`` box, spread evenly over the width."""
    if not values:
        return ""
    if len(values) == 1:
        values = [values[0], values[0]]
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = 1.5
    step = 100 / (len(values) - 1)
    return " ".join(
        f"{index * step:.2f},{pad + (1 - (value - low) / (high - low)) * (height - 2 * pad):.2f}"
        for index, value in enumerate(values)
    )


@register.filter
def sparkline_points(history) -> str:
    """Points of a sparkline from ``[(timestamp, price), ...]`` (the last 120 of them)."""
    return series_points([float(point[1]) for point in list(history)[-SPARKLINE_POINTS:]], SPARKLINE_HEIGHT)


@register.filter
def chart_points(history) -> str:
    """Points of the value chart from ``[(timestamp, value), ...]``."""
    return series_points([float(point[1]) for point in history], CHART_HEIGHT)


@register.inclusion_tag("includes/account_header.html", takes_context=True)
def account_header(context):
    """The header's cash and live total value; reuses the page's ``summary`` when it has one."""
    summary = context.get("summary") or selectors.portfolio_summary(context["request"].user)
    positions = [
        {
            "ticker": position["ticker"],
            "quantity": str(position["quantity"]),
            "price": None if position["price"] is None else str(position["price"]),
        }
        for position in summary["positions"]
    ]
    return {"summary": summary, "positions": positions}
