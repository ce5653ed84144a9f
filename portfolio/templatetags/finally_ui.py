"""The pages' template library: figures (``portfolio.display``), chart points (``portfolio.charts``),
times, the display rules handed to the scripts, and the header's account.

Formatting happens in ``portfolio.display``, from Decimals, so templates never do arithmetic and never
see floats of money; the filters here only name its functions for templates.
"""

from django import template
from django.utils.html import format_html, json_script

from market import prices as market_prices
from portfolio import charts, display, selectors

register = template.Library()

register.filter("money", display.money)
register.filter("signed_money", display.signed_money)
register.filter("price", display.price)
register.filter("unit_price", display.unit_price)
register.filter("signed", display.signed)
register.filter("percent", display.percent)
register.filter("quantity", display.quantity)
register.filter("sign", display.sign)

LOCAL_TIME_FORMATS = {"datetime": {}, "clock": {"date": False}, "minute": {"date": False, "seconds": False}}


@register.filter
def local_time(moment, form: str = "datetime"):
    """``<time>`` of ``moment``: UTC text (what a page without scripts shows, and the hover text), which
    the scripts show in the browser's time zone. ``form``: ``datetime``, ``clock`` (time to the
    second) or ``minute``."""
    if moment is None:
        return display.DASH
    return format_html(
        '<time datetime="{}" data-local="{}">{}</time>',
        display.utc_iso(moment),
        form,
        display.utc_text(moment, **LOCAL_TIME_FORMATS[form]),
    )


@register.filter
def sparkline_points(history) -> str:
    """Points of a sparkline from ``[(timestamp, price), ...]`` (the last ``SPARKLINE_POINTS`` of them)."""
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


CHART_HEIGHTS = {
    "sparkline": charts.SPARKLINE_HEIGHT,
    "focus": charts.FOCUS_CHART_HEIGHT,
    "value": charts.VALUE_CHART_HEIGHT,
}


@register.simple_tag
def view_box(chart: str) -> str:
    """The ``viewBox`` of a chart (``sparkline``, ``focus``, ``value``): 100 wide, the chart's height high;
    the scripts redraw in the height they read from it."""
    return f"0 0 100 {CHART_HEIGHTS[chart]}"


@register.simple_tag
def client_rules():
    """The display rules for the page scripts (``static/finally/config.js`` reads them), as one
    ``<script type="application/json" id="finally-rules">`` block."""
    return json_script(charts.client_rules(market_prices.update_interval()), "finally-rules")


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
