"""Settings for the orders benchmark: the project's, without the periodic jobs and the reconcile (the
benchmark gives the feed its tickers and runs for well under a minute), and with a demand hook that
closes its worker thread's connection (so the throw-away database can be dropped at the end)."""

from finally_site.settings import *  # noqa: F403

MARKET_PERIODIC_JOBS = []
MARKET_RECONCILE_INTERVAL = 3600
MARKET_TICKER_DEMAND = "tests.portfolio_support.ticker_demand_closing_connection"
