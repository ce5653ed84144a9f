"""The server's first paint and the scripts' live updates follow one set of display rules: the same
text for the same figure (portfolio/display.py and static/finally/format.js), the same polyline for the
same series (portfolio/charts.py and static/finally/geometry.js), the same constants (base.html's
json_script)."""

import json
from decimal import Decimal

import pytest

from portfolio import charts, display
from portfolio.templatetags import finally_ui

pytestmark = pytest.mark.browser

FIGURES = [
    -1234.5,
    0,
    -0.0,
    -0.004,
    -0.005,
    0.005,
    1.005,
    2.675,
    999.995,
    1234.5,
    1234567.891,
    80015000,
    -80015000.125,
    9999999999999.99,
    1e-7,
    -1e-7,
    123.456e10,
    None,
    "",
    "188.177900",
    "10.000000",
    "0.000000",
    "-0.50",
    "1500.250000",
    "abc",
    "1_000",
    " 12.5 ",
    "+3",
    "1e3",
    "-.5",
    "Infinity",
]
FORMATTERS = {
    "money": display.money,
    "signedMoney": display.signed_money,
    "price": display.price,
    "signed": display.signed,
    "percent": display.percent,
    "unitPrice": display.unit_price,
    "quantity": display.quantity,
    "sign": display.sign,
}

# Loads one of the page's modules by its path relative to the page's own scripts (whatever their
# served names), then applies it to the cases.
IMPORT_MODULE = """async ([module, call, cases]) => {
  const entry = document.querySelector('script[type="module"][src*="header"]').src;
  const loaded = await import(new URL(module, entry));
  return cases.map((args) => loaded[call](...args));
}"""


def run_module(page, module: str, call: str, cases: list) -> list:
    return page.evaluate(IMPORT_MODULE, [module, call, cases])


def test_the_scripts_format_every_figure_exactly_as_the_server(page, server):
    page.goto("/accounts/login/")
    for name, formatter in FORMATTERS.items():
        python = [formatter(value) for value in FIGURES]
        javascript = run_module(page, "./format.js", name, [[value] for value in FIGURES])
        assert javascript == python, f"{name}: {list(zip(FIGURES, python, javascript, strict=True))}"


def test_decimals_read_the_same_as_their_strings(page, server):
    values = [Decimal(value) for value in ("188.177900", "-1234.565", "0.000000", "1E+3")]
    python = [display.unit_price(value) for value in values] + [display.money(value) for value in values]
    page.goto("/accounts/login/")
    strings = [[str(value)] for value in values]
    javascript = run_module(page, "./format.js", "unitPrice", strings)
    javascript += run_module(page, "./format.js", "money", strings)
    assert javascript == python


SERIES = [
    [],
    [190.0],
    [0.0, 0.0],
    [100.0, 100.0, 100.0],
    [190.12, 190.31, 189.97, 190.5, 190.5, 191.02],
    [10000.0 + 0.01 * (i % 7) for i in range(33)],  # 33 points: x steps of 3.125, ties at the third decimal
    [50 + (i * 37 % 101) / 7 for i in range(120)],
    [1e-7, 2e-7, 1.5e-7],
]


@pytest.mark.parametrize(
    ("rule", "height", "min_span", "render"),
    [
        ("sparkline", charts.SPARKLINE_HEIGHT, 0, finally_ui.sparkline_points),
        ("focus", charts.FOCUS_CHART_HEIGHT, charts.FOCUS_MIN_SPAN, finally_ui.focus_points),
        ("value", charts.VALUE_CHART_HEIGHT, charts.VALUE_MIN_SPAN, finally_ui.chart_points),
    ],
)
def test_the_scripts_draw_every_chart_exactly_as_the_server(page, server, rule, height, min_span, render):
    page.goto("/accounts/login/")
    rendered = [render([[index, value] for index, value in enumerate(values)]) for values in SERIES]
    cases = [[values, height, min_span] for values in SERIES]
    drawn = run_module(page, "./geometry.js", "seriesPoints", cases)
    assert drawn == rendered


def test_the_scripts_read_the_rules_the_server_hands_them(page, server):
    page.goto("/")
    handed = json.loads(page.locator("#finally-rules").text_content())
    read = page.evaluate(
        """async () => {
          const entry = document.querySelector('script[type="module"][src*="header"]').src;
          return { ...(await import(new URL("./config.js", entry))).rules };
        }"""
    )
    assert read == handed == charts.client_rules(0.25)
