"""The market data source interface. ``PriceCache`` lives in ``market.cache`` and is exported here too.

A source writes into a ``PriceCache`` on its own schedule; it never returns prices directly. Besides
the seed's five methods, the interface states what a source can do, with defaults here, so the feed
never has to probe a source for them:

- ``name`` and ``interval``: what ``/healthz`` reports and how freshness is judged;
- ``running``: whether its loop is alive (the feed's watchdog restarts a source that died);
- ``unknown_tickers()``: tracked tickers the source cannot price (Massive does not know them);
- ``resume_from(prices)``: continue from given prices instead of start prices (the simulator);
- ``provides_previous_close``: the source sets each ticker's previous close itself (Massive, from
  its snapshots); otherwise the bar recorder sets it from the stored daily bars;
- ``request_history(ticker, kind, since)``: fetch history the database lacks (Massive's aggregates;
  a mirror passes the request on to ``runfeed``);
- ``request_directory()``: load the ticker directory of company names (Massive's reference data;
  a mirror passes the request on to ``runfeed``);
- ``remote``: the source stands for one that runs in another process (``MirrorSource`` follows
  ``runfeed``); this process then does none of the owner's work (periodic jobs, owner-only tick
  listeners), and ``tickers_changed()`` passes changes on even when the feed does not run here.

``add_ticker`` of a tracked ticker and ``remove_ticker`` of an untracked one change nothing, so the
feed can apply a change without knowing the source's current set.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

from .cache import PriceCache, TickBatch
from .updates import PriceUpdate

__all__ = ["MarketDataSource", "PriceCache", "PriceUpdate", "TickBatch"]


class MarketDataSource(ABC):
    """Abstract interface for market data providers."""

    name: str = "unknown"
    interval: float = 1.0
    remote: bool = False
    provides_previous_close: bool = False

    @abstractmethod
    async def start(self, tickers: list[str]) -> None:
        """Begin producing price updates for the given tickers."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop producing price updates and clean up."""

    @abstractmethod
    async def add_ticker(self, ticker: str) -> None:
        """Add a ticker to the active set."""

    @abstractmethod
    async def remove_ticker(self, ticker: str) -> None:
        """Remove a ticker from the active set."""

    @abstractmethod
    def get_tickers(self) -> list[str]:
        """Return the current list of active tickers."""

    # Capabilities, with what a source that says nothing about them means.

    @property
    def running(self) -> bool:
        """True while the source's loop is alive; a source that cannot tell says True."""
        return True

    def unknown_tickers(self) -> set[str]:
        """Tracked tickers this source cannot price (it does not know them)."""
        return set()

    def resume_from(self, prices: Mapping[str, float]) -> None:
        """Continue these tickers from these prices (call before ``start``). Default: ignored, for a
        source whose prices come from the market itself."""
        return

    def request_history(self, ticker: str, kind: str, since: int) -> bool:
        """Fetch ``kind`` ("minute" or "day") bars of ``ticker`` from ``since`` (Unix seconds) on into the
        database, in the background. Returns whether the source can (default: it cannot). Thread-safe."""
        return False

    def request_directory(self) -> bool:
        """Load the ticker directory (``market.directory``) in the background, if the source has one to
        give. Returns whether it does (default: it does not). Thread-safe."""
        return False

    def tickers_changed(self, tickers: Iterable[str]) -> None:
        """The references of ``tickers`` changed while the feed does not run in this process.

        Default: nothing (a feed reads the whole ticker set when it starts). A ``remote`` source
        passes the change on to the process that runs the real source. Called from sync code.
        """
        return
