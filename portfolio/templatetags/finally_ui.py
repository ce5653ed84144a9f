"""Display helpers for the pages: money and price formatting, sparkline geometry, the header's account.

Formatting happens here, from Decimals, so templates never do arithmetic and never see floats of money.
"""

from decimal import Decimal

from django import template

from portfolio import charts, selectors
from portfolio.money import format_quantity, to_cents

register = template.Library()


def _number(value) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def _cents(value) -> Decimal | None:
    """``value`` rounded half up to the cent, so a tiny negative value shows as 0.00, never -0.00."""
    amount = _number(value)
    if amount is None:
        return None
    rounded = to_cents(amount)
    return rounded if rounded else abs(rounded)


def _figure(value, unit: str = "", suffix: str = "", plus: str = "+") -> str:
    """``value`` to the cent with thousands separators, signed (``plus`` when positive, "-" when negative,
    nothing at zero) and ``unit`` between the sign and the digits; None -> an em dash."""
    amount = _cents(value)
    if amount is None:
        return "—"
    mark = plus if amount > 0 else "-" if amount < 0 else ""
    return f"{mark}{unit}{abs(amount):,.2f}{suffix}"


@register.filter
def money(value) -> str:
    """``Decimal("-1234.5")`` -> ``"-$1,234.50"``; None -> an em dash."""
    return _figure(value, unit="$", plus="")


@register.filter
def signed_money(value) -> str:
    """Money with an explicit sign: ``"+$12.00"``, ``"-$3.10"``, ``"$0.00"``."""
    return _figure(value, unit="$")


@register.filter
def price(value) -> str:
    """A price to the cent with thousands separators: ``"1,234.50"``."""
    return _figure(value, plus="")


@register.filter
def signed(value) -> str:
    return _figure(value)


@register.filter
def percent(value) -> str:
    return _figure(value, suffix="%")


@register.filter
def quantity(value) -> str:
    amount = _number(value)
    return "—" if amount is None else format_quantity(amount)


@register.filter
def sign(value) -> str:
    """``"up"``, ``"down"`` or ``"flat"``: the CSS hook colouring a figure."""
    amount = _cents(value)
    if not amount:
        return "flat"
    return "up" if amount > 0 else "down"


@register.filter
def sparkline_points(history) -> str:
    """Points of a sparkline from ``[(timestamp, price), ...]`` (the last 120 of them)."""
    values = [float(point[1]) for point in list(history)[-charts.SPARKLINE_POINTS :]]
    return charts.series_points(values, charts.SPARKLINE_HEIGHT)


@register.filter
def focus_points(history) -> str:
    """Points of the dashboard's large chart of one ticker from ``[(timestamp, price), ...]``."""
    values = [float(point[1]) for point in history or []]
    return charts.series_points(values, charts.FOCUS_CHART_HEIGHT, charts.FOCUS_MIN_SPAN)


@register.filter
def chart_points(history) -> str:
    """Points of the value chart from ``[(timestamp, value), ...]``."""
    values = [float(point[1]) for point in history]
    return charts.series_points(values, charts.VALUE_CHART_HEIGHT, charts.VALUE_MIN_SPAN)


@register.inclusion_tag("includes/account_header.html", takes_context=True)
def account_header(context):
    """The header's cash and live total value; reuses the page's ``summary`` when it has one."""
    summary = context.get("summary") or selectors.portfolio_summary(context["request"].user)
    positions = [
        {
            "ticker": position["ticker"],
            "quantity": str(position["quantity"]),
            "avg_cost": str(position["avg_cost"]),
            "price": None if position["price"] is None else str(position["price"]),
        }
        for position in summary["positions"]
    ]
    return {"summary": summary, "positions": positions}
