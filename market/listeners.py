"""Tick listeners: work that follows every tick of this process's feed, registered by other apps.

A tick listener is told of every write to the feed's ``PriceCache`` (``on_tick(batch)``, a
``market.cache.TickBatch``: the tickers and prices written). The feed starts each one before its
source and stops it after, so a listener can load what it needs and flush what it holds.

Listeners come from ``settings.MARKET_TICK_LISTENERS`` (dotted paths of callables taking no argument
and returning a ``TickListener``; checked at start-up by ``market.checks``), or are passed to
``Feed(listeners=...)`` (``runfeed``'s publisher). An ``owner_only`` listener runs only in the
process that owns the source (an embedded server, or ``runfeed``), never in a server that mirrors
``runfeed``: e.g. the bar recorder and the order engine, which must run once per deployment.
The stream hub listens to the cache directly in every process (``PriceCache.add_listener``).
"""

from typing import TYPE_CHECKING

from .cache import TickBatch

if TYPE_CHECKING:
    from .feed import Feed


class TickListener:
    """Base class of a tick listener; override ``on_tick`` and, when needed, ``start`` and ``stop``."""

    owner_only: bool = False

    async def start(self, feed: "Feed") -> None:
        """Called in the feed's event loop before its source starts."""

    def on_tick(self, batch: TickBatch) -> None:
        """Called after every write to the cache, in the writing thread: be quick, hand slow work on."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Called in the feed's event loop after its source stopped."""
