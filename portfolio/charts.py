"""Geometry of the inline SVG charts (sparklines, the value chart), as in static/finally/charts.js.

Series are drawn by position (evenly over the width) in a box 100 wide and ``height`` high.
"""

SPARKLINE_POINTS = 120
SPARKLINE_HEIGHT = 24
VALUE_CHART_HEIGHT = 40
FOCUS_CHART_HEIGHT = 60
FOCUS_MIN_SPAN = 0.001  # the dashboard's large chart spans at least 0.1 % of the price
VALUE_MIN_SPAN = 0.002  # the value chart spans at least 0.2 % of the value ($20 on $10,000)


def bounds(values, min_span=0.0):
    """The vertical range of a chart: the data's, widened to at least ``min_span`` x the level.

    Works on floats and on Decimals alike (give a Decimal ``min_span`` with Decimal values).
    """
    low, high = min(values), max(values)
    span = max(high - low, abs(high) * min_span) or (high - high + 1)
    if high - low < span:
        middle = (high + low) / 2
        low, high = middle - span / 2, middle + span / 2
    return low, high


def series_points(values: list[float], height: float, min_span: float = 0.0) -> str:
    """SVG polyline points for ``values`` in a 100 x ``height`` box, spread evenly over the width."""
    if not values:
        return ""
    if len(values) == 1:
        values = [values[0], values[0]]
    low, high = bounds(values, min_span)
    pad = 1.5
    step = 100 / (len(values) - 1)
    return " ".join(
        f"{index * step:.2f},{pad + (1 - (value - low) / (high - low)) * (height - 2 * pad):.2f}"
        for index, value in enumerate(values)
    )
