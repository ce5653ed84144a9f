"""What the rest of the project asks of the market: the latest prices and whether they are live.

The portfolio app (pages, trades, valuations) reads prices only through these functions, never
through the feed object, so it works the same in an embedded server, a server mirroring ``runfeed``,
``runfeed`` itself, and a test that fills the cache by hand (``market.feed.get_feed().cache``).
Prices are floats, as the sources publish them; callers turn them into money themselves.
"""

from collections.abc import Iterable

from .feed import get_feed
from .updates import PriceUpdate


def latest(ticker: str) -> PriceUpdate | None:
    """The latest price of ``ticker``, or None when there is none (yet)."""
    return get_feed().cache.get(ticker)


def latest_many(tickers: Iterable[str]) -> dict[str, PriceUpdate]:
    """The latest price of each of ``tickers`` that has one, read at one instant."""
    return get_feed().cache.get_many(tickers)


def price(ticker: str) -> float | None:
    """The latest price of ``ticker`` as a number, or None."""
    return get_feed().cache.get_price(ticker)


def histories(tickers: Iterable[str], limit: int | None = None) -> dict[str, list[tuple[float, float]]]:
    """Recent ``(timestamp, price)`` points of each ticker (oldest first), at most ``limit`` each."""
    return get_feed().cache.histories(tickers, limit)


def tracked() -> list[str]:
    """The tickers the feed tracks."""
    return get_feed().tracked_tickers()


def company_names(query: str, limit: int = 10) -> list[tuple[str, str]]:
    """``(ticker, name)`` pairs the market's directory knows for ``query`` (Massive's reference data,
    ``market.directory``). The first call asks the source to load the directory, in the background
    and within its rate budget: until then, and without Massive, there are none."""
    from . import directory

    get_feed().source.request_directory()
    return directory.search(query, limit)


def is_live() -> bool:
    """Whether prices are fresh: the source succeeded within three of its intervals (and 5 s)."""
    return not get_feed().is_stale()


def unknown_tickers() -> set[str]:
    """Tracked tickers the source cannot price (Massive does not know them)."""
    return get_feed().unknown_tickers()


def update_interval() -> float:
    """Seconds between the source's updates (a new ticker gets its first price within about that)."""
    return get_feed().interval
