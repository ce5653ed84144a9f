"""The display rules of the charts and live rows, and the geometry of the inline SVG charts.

The constants are the one definition: ``client_rules()`` hands them to the page scripts (a
``json_script`` block in base.html), and ``static/finally/geometry.js`` draws with exactly the rules of
``bounds`` and ``series_points`` below, so the server's first paint and the scripts' redraws agree to
the last digit (a browser test compares them). Series are drawn by position (evenly over the width) in
a box 100 wide and ``height`` high.
"""

import math

SPARKLINE_POINTS = 120  # points of a row's sparkline, and the window its change is measured over
SPARKLINE_HEIGHT = 24
VALUE_CHART_HEIGHT = 40
FOCUS_CHART_HEIGHT = 60
FOCUS_MIN_SPAN = 0.001  # the dashboard's large chart spans at least 0.1 % of the price
VALUE_MIN_SPAN = 0.002  # the value chart spans at least 0.2 % of the value ($20 on $10,000)
STREAM_HISTORY_POINTS = 240  # [timestamp, price] points a page keeps per ticker from the stream
NO_PRICE_AFTER_MIN = 5.0  # seconds a live page waits at least for a new ticker's first price
PAD = 1.5  # room above the highest and below the lowest point, in box units


def no_price_after_ms(source_interval: float) -> int:
    """How long a live page waits for a new ticker's first price before it says there is none: a
    new ticker is priced at the source's next update (Massive polls every 15 s), so two intervals."""
    return int(1000 * max(NO_PRICE_AFTER_MIN, 2 * source_interval + 1))


def client_rules(source_interval: float) -> dict:
    """The rules the page scripts draw and wait by, as base.html's ``json_script`` hands them over."""
    return {
        "sparklinePoints": SPARKLINE_POINTS,
        "sparklineHeight": SPARKLINE_HEIGHT,
        "valueChartHeight": VALUE_CHART_HEIGHT,
        "focusChartHeight": FOCUS_CHART_HEIGHT,
        "focusMinSpan": FOCUS_MIN_SPAN,
        "valueMinSpan": VALUE_MIN_SPAN,
        "streamHistoryPoints": STREAM_HISTORY_POINTS,
        "noPriceAfterMs": no_price_after_ms(source_interval),
    }


def bounds(values, min_span=0.0):
    """The vertical range of a chart: the data's, widened to at least ``min_span`` x the level (and to
    1 when the series is flat at zero), centred on the data.

    Works on floats and on Decimals alike (give a Decimal ``min_span`` with Decimal values).
    """
    low, high = min(values), max(values)
    span = max(high - low, abs(high) * min_span)
    if not span:
        span = high - high + 1
    if high - low < span:
        middle = (high + low) / 2
        low, high = middle - span / 2, middle + span / 2
    return low, high


def coordinate(value: float) -> str:
    """``value`` to two decimals, rounded half up from its binary value (``math.floor(v * 100 + 0.5)``,
    as geometry.js does with ``Math.floor``: Python's ``:.2f`` and JS's ``toFixed`` break ties apart)."""
    hundredths = math.floor(value * 100 + 0.5)
    mark = "-" if hundredths < 0 else ""
    whole, part = divmod(abs(hundredths), 100)
    return f"{mark}{whole}.{part:02d}"


def series_points(values: list[float], height: float, min_span: float = 0.0) -> str:
    """SVG polyline points for ``values`` in a 100 x ``height`` box, spread evenly over the width."""
    if not values:
        return ""
    if len(values) == 1:
        values = [values[0], values[0]]
    low, high = bounds(values, min_span)
    step = 100 / (len(values) - 1)
    inner = height - 2 * PAD
    return " ".join(
        f"{coordinate(index * step)},{coordinate(PAD + (1 - (value - low) / (high - low)) * inner)}"
        for index, value in enumerate(values)
    )
