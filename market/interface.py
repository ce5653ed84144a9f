"""The market data source interface. ``PriceCache`` lives in ``market.cache`` and is exported here too."""

from abc import ABC, abstractmethod

from .cache import PriceCache, TickBatch
from .models import PriceUpdate

__all__ = ["MarketDataSource", "PriceCache", "PriceUpdate", "TickBatch"]


class MarketDataSource(ABC):
    """Abstract interface for market data providers.

    A source writes into a ``PriceCache`` on its own schedule; it never returns prices directly.
    ``name`` ("simulator" or "massive") and ``interval`` (seconds between updates) let the stream and
    ``/healthz`` judge freshness.
    """

    name: str = "unknown"
    interval: float = 1.0

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
