"""Orders that wait for a price: limit, stop and stop-limit, day and GTC, cancel and expiry.

- ``services``: the rules (placing with every check, buying power, cancel, expiry, and the guarded
  fill of a triggered order); every fill goes through ``portfolio.services.fill``.
- ``conditions``: when an order triggers and fills at a price (pure).
- ``book``: the open orders indexed in memory by ticker and trigger price, so a tick costs a few
  vectorised operations when no order crosses.
- ``engine``: ``OrderEngine``, the owner-only tick listener (``settings.MARKET_TICK_LISTENERS``) that
  fills orders in a worker thread, off the event loop, in the process that owns the source.
- ``sync``: how a committed change reaches the engine, in this process or in ``runfeed``.
"""
