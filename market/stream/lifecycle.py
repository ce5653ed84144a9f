"""Start this process's market feed inside the server's own event loop, and stop it with the server.

daphne (and ``runserver`` with daphne installed) sends no ASGI lifespan, so ``FeedLifecycle`` starts
the feed lazily on the first connection or request of any kind, once per process, and stops it from
a Twisted "before shutdown" trigger. Servers that do send lifespan (uvicorn) start it on startup and
stop it on shutdown; the wrapper answers lifespan itself because Django's handler rejects it.
Management commands and tests never get here, and ``settings.MARKET_AUTOSTART = False`` keeps the
feed off (tests that drive the ASGI application in-process set that).
"""

import asyncio
import logging
import sys
import time

from django.conf import settings

from ..feed import Feed, get_feed

logger = logging.getLogger(__name__)

START_RETRY_SECONDS = 5.0


def autostart_enabled() -> bool:
    return getattr(settings, "MARKET_AUTOSTART", True)


class FeedLifecycle:
    """ASGI wrapper around the whole application (HTTP and WebSocket)."""

    def __init__(self, app):
        self.app = app
        self._retry_at = 0.0
        self._stop_hooked: Feed | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if not get_feed().started and autostart_enabled():
            await self._start_lazily()
        await self.app(scope, receive, send)

    async def _start_lazily(self) -> None:
        if time.monotonic() < self._retry_at:
            return
        feed = get_feed()
        if not await self._start(feed):
            return
        if self._stop_hooked is not feed:
            self._stop_hooked = feed
            stop_with_twisted(feed, asyncio.get_running_loop())

    async def _start(self, feed: Feed) -> bool:
        try:
            await feed.start()
        except Exception:
            # A request must still be served (e.g. /healthz says stale); try again a little later.
            self._retry_at = time.monotonic() + START_RETRY_SECONDS
            logger.exception("could not start the market feed; trying again in %ss", START_RETRY_SECONDS)
            return False
        return True

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if autostart_enabled():
                    await self._start(get_feed())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await get_feed().stop()
                except Exception:
                    logger.exception("stopping the market feed failed")
                await send({"type": "lifespan.shutdown.complete"})
                return


def stop_with_twisted(feed: Feed, loop: asyncio.AbstractEventLoop) -> bool:
    """Under daphne, stop ``feed`` when the Twisted reactor shuts down. Returns whether it hooked in."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not getattr(reactor, "running", False):
        return False
    from twisted.internet.defer import Deferred

    def stop_feed():
        return Deferred.fromFuture(loop.create_task(feed.stop()))

    reactor.addSystemEventTrigger("before", "shutdown", stop_feed)
    return True
