"""Which tickers the feed tracks: the default ten plus every ticker some other app references.

The references come from the ``MARKET_TICKER_DEMAND`` hook (the portfolio app counts watchlist
entries, positions and open orders). The database is the truth: the feed re-reads the counts of the
tickers whose references changed (``tickers_changed``, called by the portfolio app after a commit)
and reconciles the whole set periodically, which repairs changes that skipped signals.
"""

from collections.abc import Iterable

from asgiref.sync import sync_to_async

from . import hooks
from .seed_prices import DEFAULT_TICKERS


def ticker_demand(tickers: Iterable[str] | None = None) -> dict[str, int]:
    """Reference counts from the demand hook: ``None`` asks for every referenced ticker."""
    hook = hooks.ticker_demand()
    if hook is None:
        return {}
    return hook(None if tickers is None else sorted(set(tickers)))


def wanted_tickers_sync(among: Iterable[str] | None = None) -> set[str]:
    """The tickers the feed must track (restricted to ``among`` when given). Reads the database."""
    among = None if among is None else set(among)
    counts = ticker_demand(among)
    wanted = {ticker for ticker, count in counts.items() if count > 0}
    defaults = set(DEFAULT_TICKERS) if among is None else set(DEFAULT_TICKERS) & among
    return wanted | defaults


async def wanted_tickers(among: Iterable[str] | None = None) -> set[str]:
    """``wanted_tickers_sync`` from the event loop (the database is read in a worker thread)."""
    return await sync_to_async(wanted_tickers_sync, thread_sensitive=False)(among)


def tickers_changed(tickers: Iterable[str]) -> None:
    """The references of ``tickers`` changed (after a commit): this process's feed re-checks them.

    Thread-safe, never raises into the caller's transaction machinery.
    """
    from .feed import get_feed

    get_feed().tickers_changed(tickers)
