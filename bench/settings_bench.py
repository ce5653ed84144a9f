"""Settings for the stream benchmark: the project's, with the feed tracking a fixed set of tickers.

``BENCH_TICKERS`` (the default ten plus synthetic ones, 50 in all unless ``BENCH_TICKER_COUNT`` says
otherwise) stand in for watchlist entries, so the benchmark needs no users or portfolio rows.
"""

import os

from finally_site.settings import *  # noqa: F403
from market.seed_prices import DEFAULT_TICKERS

BENCH_TICKERS = [
    *DEFAULT_TICKERS,
    *(
        f"BX{i:03d}"
        for i in range(max(0, int(os.environ.get("BENCH_TICKER_COUNT", "50")) - len(DEFAULT_TICKERS)))
    ),
]

MARKET_TICKER_DEMAND = "bench.settings_bench.bench_ticker_demand"
MARKET_PERIODIC_JOBS = []
# --asgi-path: ticks through ASGI send instead of market.stream.wire's direct writes, for comparison.
MARKET_STREAM_FAST_PATH = os.environ.get("BENCH_ASGI_PATH", "") != "1"


def bench_ticker_demand(tickers=None):
    """The feed's demand hook: one reference to each benchmark ticker."""
    wanted = BENCH_TICKERS if tickers is None else [t for t in tickers if t in BENCH_TICKERS]
    return dict.fromkeys(wanted, 1)
