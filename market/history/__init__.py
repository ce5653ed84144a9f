"""Prices with a memory: stored bars, the latest prices, the day's change, history from Massive.

- ``models``: one-minute bars, daily bars (New York days), the latest price per ticker, and what was
  fetched from Massive (``HistoryCoverage``); re-exported by ``market.models`` for Django.
- ``calendar``: New York minutes and days (``zoneinfo``, so DST changes are right).
- ``store``: the bulk writes (one statement for all tickers) and the reads the recorder needs.
- ``recorder``: ``BarRecorder``, the owner-only tick listener that records bars and latest prices,
  resumes a restarted owner from them, and sets the previous closes in the cache.
- ``queries``: ``GET /api/history/`` aggregated in the database, in one query.
- ``backfill``: history the database lacks, from Massive's aggregates, within the rate budget.

Everything here is market data (floats, as the sources publish them); the portfolio app turns
prices into money itself (``portfolio.money.price_from_float``).
"""
