"""The stream hub: fans each tick out to this process's price-stream sockets, in-process.

One hub per process (``get_hub()``), for this process's feed. It listens to the feed's
``PriceCache``; a write schedules one fan-out on the event loop, and writes that arrive before it runs
are merged into it
(``TickBatch.merge``), so a burst costs one fan-out. The fan-out groups sockets by their subscribed
set, reads the changed prices once and builds each group's frame once. Ticks never cross the
channel layer here.

Under daphne each socket has a frame writer (``market.wire``): the group's WebSocket frame, built
once, is written straight to the socket. A client that stops reading gets its ticks held back once
too much is unsent; the hub keeps only which tickers changed and sends their latest prices when it
drains (daphne's ping timeout, ``--ping-interval`` 20 s and ``--ping-timeout`` 30 s, drops a client
that is gone).

Elsewhere (uvicorn, tests) ticks go through the socket's ASGI send, started eagerly without a task
per socket: a send that completes on the spot costs nothing more. Should the server apply
back-pressure (the send suspends), that socket is marked busy and its send finishes in a task;
later ticks only mark its tickers dirty, and once the send completes it gets one delta with the
latest prices of those tickers.

Either way a slow socket never queues more than the latest state and never holds up the others.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence

from ..cache import PriceCache, TickBatch
from ..feed import get_feed
from .protocol import history_points, price_entry, prices_frame, snapshot_frame, status_frame
from .wire import FALLBACK, FrameWriter, text_frame

logger = logging.getLogger(__name__)

STATUS_CHECK_INTERVAL = 0.5
MAX_BACKLOG = 64  # control frames waiting behind a suspended send before the socket counts as dead
SNAPSHOT_CACHE_SECONDS = 1.0
SNAPSHOT_CACHE_SIZE = 256

SendText = Callable[[str], Awaitable[object]]


class Subscriber:
    """One socket as the hub sees it: how to send to it, and the tickers it follows."""

    __slots__ = ("backlog", "busy", "closed", "dirty", "on_drop", "send", "tickers", "write")

    def __init__(
        self,
        send: SendText,
        tickers: frozenset[str],
        on_drop: Callable[[], object] | None,
        write: FrameWriter | None = None,
    ):
        self.send = send
        self.write = write  # daphne's fast path for ticks (``market.wire``), or None
        self.tickers = tickers
        self.on_drop = on_drop
        self.busy = False  # a send is suspended (back-pressure); later frames wait
        self.closed = False
        self.backlog: deque[str] = deque()  # control frames behind a suspended send, in order
        self.dirty: set[str] = set()  # tickers changed while busy or held back: one delta later


class StreamHub:
    """Fan-out of a ``PriceCache``'s writes to subscribed sockets. Use it on one event loop only."""

    def __init__(self, cache: PriceCache, health: Callable[[], dict]):
        self.cache = cache
        self._health = health
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._listening = False
        self._groups: dict[frozenset[str], dict[Subscriber, None]] = {}
        self._pending: TickBatch | None = None
        self._status: str | None = None
        self._monitor: asyncio.Task | None = None
        self._version = 0  # bumped by every notified write: snapshots built before are out of date
        self._snapshots: dict[tuple[str, ...], str] = {}
        self._snapshots_key: tuple[int, float] = (-1, 0.0)
        self.fan_outs = 0
        self.frames_sent = 0

    # Connections

    @property
    def subscriber_count(self) -> int:
        return sum(len(members) for members in self._groups.values())

    def connect(
        self,
        send: SendText,
        tickers: Iterable[str],
        on_drop: Callable[[], object] | None = None,
        write: FrameWriter | None = None,
    ) -> Subscriber:
        """Register a socket following ``tickers``; ``send(text)`` must send one text frame.

        ``write(frame_bytes)``, when given, writes a ready-made WebSocket frame synchronously and
        returns True, False when the socket is gone, None when it holds the frame back because the
        client is not reading, or ``FALLBACK`` when the frame must go through ``send`` this time
        (``market.stream.wire.direct_writer``); ticks then use it instead of ``send``. ``on_drop`` is called
        if the hub gives up on the socket (its send failed or it fell too far behind), so the caller
        can close it. Call from the event loop.
        """
        self._bind(asyncio.get_running_loop())
        subscriber = Subscriber(send, frozenset(tickers), on_drop, write)
        self._groups.setdefault(subscriber.tickers, {})[subscriber] = None
        if self._monitor is None or self._monitor.done():
            self._status = self._health()["status"]
            self._monitor = self._loop.create_task(self._watch_status(), name="stream-hub-status")
        return subscriber

    def disconnect(self, subscriber: Subscriber) -> None:
        """Forget a socket (idempotent)."""
        subscriber.closed = True
        subscriber.backlog.clear()
        subscriber.dirty.clear()
        members = self._groups.get(subscriber.tickers)
        if members is not None:
            members.pop(subscriber, None)
            if not members:
                del self._groups[subscriber.tickers]
        if not self._groups and self._monitor is not None:
            self._monitor.cancel()
            self._monitor = None

    def set_tickers(self, subscriber: Subscriber, tickers: Iterable[str]) -> None:
        """Change the tickers a socket follows."""
        if subscriber.closed:
            return
        tickers = frozenset(tickers)
        if tickers == subscriber.tickers:
            return
        members = self._groups.get(subscriber.tickers)
        if members is not None:
            members.pop(subscriber, None)
            if not members:
                del self._groups[subscriber.tickers]
        subscriber.tickers = tickers
        subscriber.dirty &= tickers
        self._groups.setdefault(tickers, {})[subscriber] = None

    def send(self, subscriber: Subscriber, text: str) -> None:
        """Send a frame of the socket's own (snapshot, error, status, event) after what went before."""
        if subscriber.closed:
            return
        if subscriber.busy:
            if len(subscriber.backlog) >= MAX_BACKLOG:
                self._drop(subscriber, "it stopped reading")
                return
            subscriber.backlog.append(text)
            return
        self._start(subscriber, text)

    # Frames built from the cache

    def snapshot_frame(self, tickers: Sequence[str]) -> str:
        """The snapshot of ``tickers``; sockets connecting within the same tick share one build."""
        key = tuple(tickers)
        now = time.monotonic()
        version, built = self._snapshots_key
        if version != self._version or now - built > SNAPSHOT_CACHE_SECONDS or not self._listening:
            self._snapshots = {}
            self._snapshots_key = (self._version, now)
        frame = self._snapshots.get(key)
        if frame is None:
            limit = history_points(len(key))
            frame = snapshot_frame(self.cache.get_many(key), self.cache.histories(key, limit))
            if len(self._snapshots) < SNAPSHOT_CACHE_SIZE:
                self._snapshots[key] = frame
        return frame

    def health(self) -> dict:
        """The feed's health (``/healthz``'s body): ``status`` is ``"ok"`` or ``"stale"``."""
        return self._health()

    # Ticks

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        # First use, or a new loop (each test runs its own): nothing from the old loop carries over.
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._groups = {}
        self._pending = None
        self._monitor = None
        if not self._listening:
            self.cache.add_listener(self._on_write)
            self._listening = True

    def _on_write(self, batch: TickBatch) -> None:
        """Cache listener: runs in the writing thread, hops to the loop when that is another thread."""
        self._version += 1
        if not self._groups:
            return
        if threading.get_ident() == self._loop_thread:
            self._enqueue(batch)
            return
        # A closed loop (RuntimeError) means nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._enqueue, batch)

    def _enqueue(self, batch: TickBatch) -> None:
        if self._pending is None:
            self._pending = batch
            self._loop.call_soon(self._fan_out)
        else:
            self._pending = self._pending.merge(batch)

    def _fan_out(self) -> None:
        batch, self._pending = self._pending, None
        if batch is None:
            return
        started, sent_before = time.time(), self.frames_sent
        try:
            self._deliver(batch)
        except Exception:
            logger.exception("stream fan-out failed; the next tick goes out as usual")
        if logger.isEnabledFor(logging.DEBUG):
            done = time.time()
            logger.debug(
                "fan-out of the tick at %.6f: %d frames, started %.1f ms after it, took %.1f ms",
                batch.timestamp,
                self.frames_sent - sent_before,
                (started - batch.timestamp) * 1000,
                (done - started) * 1000,
            )

    def _deliver(self, batch: TickBatch) -> None:
        self.fan_outs += 1
        work = []
        wanted: set[str] = set()
        for tickers, members in self._groups.items():
            changed = batch.changed_in(tickers)
            if changed:
                work.append((changed, tuple(members)))
                wanted.update(changed)
        if not work:
            return
        entries = {ticker: price_entry(update) for ticker, update in self.cache.get_many(wanted).items()}
        for changed, members in work:
            parts = [entries[ticker] for ticker in changed if ticker in entries]
            if not parts:
                continue
            text = prices_frame(parts)
            frame = None
            for subscriber in members:
                if subscriber.busy:
                    subscriber.dirty.update(changed)
                elif subscriber.closed:
                    continue
                elif subscriber.write is not None:
                    if subscriber.dirty:
                        self._catch_up(subscriber, changed)
                        continue
                    if frame is None:
                        frame = text_frame(text.encode())
                    self._write(subscriber, frame, text, changed)
                else:
                    self._start(subscriber, text)

    # Sending

    def _write(self, subscriber: Subscriber, frame: bytes, text: str, changed: Iterable[str]) -> bool:
        """Write a ready-made frame (daphne's fast path); remember ``changed`` if it was held back."""
        outcome = subscriber.write(frame)
        if outcome == FALLBACK:
            self._start(subscriber, text)  # behind what autobahn holds, through ASGI send
            return True
        if outcome:
            self.frames_sent += 1
            return True
        if outcome is None:
            subscriber.dirty.update(changed)  # the client is not reading: keep only what changed
        else:
            self._drop(subscriber, "it is closed", logging.DEBUG)
        return False

    def _catch_up(self, subscriber: Subscriber, changed: Iterable[str]) -> None:
        """One frame with the latest prices of everything a held-back socket missed, if it drained."""
        tickers = [ticker for ticker in subscriber.dirty.union(changed) if ticker in subscriber.tickers]
        updates = self.cache.get_many(tickers)
        if not updates:
            subscriber.dirty.clear()
            return
        text = prices_frame(price_entry(update) for update in updates.values())
        if self._write(subscriber, text_frame(text.encode()), text, changed):
            subscriber.dirty.clear()

    def _start(self, subscriber: Subscriber, text: str) -> None:
        """Run ``send(text)`` up to its first suspension; finish it in a task only if it suspends."""
        try:
            coroutine = subscriber.send(text)
            suspended_on = coroutine.send(None)
        except StopIteration:
            self.frames_sent += 1
            return
        except Exception as exc:
            self._drop(subscriber, f"its send failed: {exc!r}")
            return
        subscriber.busy = True
        self._loop.create_task(self._finish(subscriber, coroutine, suspended_on))

    async def _finish(self, subscriber: Subscriber, coroutine, suspended_on) -> None:
        try:
            await _Resumed(coroutine, suspended_on)
        except Exception as exc:
            self._drop(subscriber, f"its send failed: {exc!r}")
            return
        self.frames_sent += 1
        subscriber.busy = False
        self._flush(subscriber)

    def _flush(self, subscriber: Subscriber) -> None:
        """After a suspended send: the waiting control frames, then one delta of the latest prices."""
        while subscriber.backlog and not subscriber.busy and not subscriber.closed:
            self._start(subscriber, subscriber.backlog.popleft())
        if subscriber.dirty and not subscriber.busy and not subscriber.closed:
            tickers = [ticker for ticker in subscriber.dirty if ticker in subscriber.tickers]
            subscriber.dirty.clear()
            updates = self.cache.get_many(tickers)
            if updates:
                self._start(subscriber, prices_frame(price_entry(update) for update in updates.values()))

    def _drop(self, subscriber: Subscriber, why: str, level: int = logging.WARNING) -> None:
        if subscriber.closed:
            return
        logger.log(level, "price stream: dropping a socket because %s", why)
        self.disconnect(subscriber)
        if subscriber.on_drop is not None:
            try:
                subscriber.on_drop()
            except Exception:
                logger.exception("price stream: on_drop callback failed")

    # Source freshness

    async def _watch_status(self) -> None:
        """Tell every socket when the source goes stale and when it recovers."""
        while True:
            await asyncio.sleep(STATUS_CHECK_INTERVAL)
            try:
                health = self._health()
                if health["status"] == self._status:
                    continue
                self._status = health["status"]
                text = status_frame(health)
                for members in list(self._groups.values()):
                    for subscriber in tuple(members):
                        self.send(subscriber, text)
            except Exception:
                logger.exception("price stream status check failed; checking again shortly")


class _Resumed:
    """Await the rest of a coroutine that was started by hand and suspended on ``suspended_on``."""

    __slots__ = ("_coroutine", "_suspended_on")

    def __init__(self, coroutine, suspended_on):
        self._coroutine = coroutine
        self._suspended_on = suspended_on

    def __await__(self):
        coroutine, to_yield = self._coroutine, self._suspended_on
        while True:
            try:
                sent = yield to_yield
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:
                try:
                    to_yield = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    to_yield = coroutine.send(sent)
                except StopIteration as stop:
                    return stop.value


_hub: StreamHub | None = None


def get_hub() -> StreamHub:
    """This process's stream hub, fanning out the ticks of this process's feed (``get_feed()``).

    Made on first use; a new one when the feed was replaced (``reset_feed``, in tests and ``runfeed``).
    Call from the event loop that serves the sockets.
    """
    global _hub
    feed = get_feed()
    if _hub is None or _hub.cache is not feed.cache:
        _hub = StreamHub(feed.cache, feed.health)
    return _hub
