"""The stream hub: fans each tick out to this process's price-stream sockets, in-process.

One hub per process (``get_hub()``), for this process's feed. It listens to the feed's
``PriceCache``; a write schedules one fan-out on the event loop, and writes that arrive before it
runs are merged into it (``TickBatch.merge``), so a burst costs one fan-out. The fan-out groups
sockets by their subscribed set, reads the changed prices once and builds each group's frame once.
Ticks never cross the channel layer here, and neither do a socket's own frames: user events reach
the hub once per process (``market.stream.events``), which hands them to that user's sockets.

Under daphne each socket has a frame writer (``market.stream.wire``): the group's WebSocket frame,
built once, is written straight to the socket. Elsewhere (uvicorn, tests) frames go through the
socket's ASGI send, started eagerly without a task per socket; should the server apply back-pressure
(the send suspends), the socket is busy and its send finishes in a task.

A socket costs a bounded amount of memory however slowly it reads and whatever its client sends.
Once it is *blocked* (a send suspended, or more than ``MAX_UNSENT`` bytes waiting in Twisted), nothing
more is written to it: ticks only mark its tickers dirty (it later gets one delta with their latest
prices), and its own frames wait in a small outbox that conflates them (snapshots owed merge into one,
built when it is sent; a newer status replaces an older one). An outbox that grows past
``MAX_BACKLOG`` frames means the client is gone or hostile: the socket is dropped. Blocked sockets
are retried on every fan-out and every ``STATUS_CHECK_INTERVAL``. daphne's ping timeout
(``--ping-interval`` 20 s, ``--ping-timeout`` 30 s) drops a client that is gone for good.
"""

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from ..cache import PriceCache, TickBatch
from ..feed import get_feed
from .protocol import event_frame, history_points, price_entry, prices_frame, snapshot_frame, status_frame
from .wire import FALLBACK, MAX_UNSENT, FrameWriter, text_frame

logger = logging.getLogger(__name__)

STATUS_CHECK_INTERVAL = 0.5
MAX_BACKLOG = 64  # frames waiting in a blocked socket's outbox before it counts as dead
SNAPSHOT_CACHE_SECONDS = 1.0
SNAPSHOT_CACHE_SIZE = 256

SendText = Callable[[str], Awaitable[object]]

# Outbox entries: (kind, value); a "snapshot" holds the tickers owed, built when it is sent.
_FRAME, _SNAPSHOT, _STATUS = "frame", "snapshot", "status"


class Subscriber:
    """One socket as the hub sees it: how to send to it, the tickers it follows, whose it is."""

    __slots__ = (
        "busy",
        "closed",
        "dirty",
        "on_drop",
        "on_event",
        "outbox",
        "send",
        "tickers",
        "user_id",
        "write",
    )

    def __init__(
        self,
        send: SendText,
        tickers: frozenset[str],
        on_drop: Callable[[], object] | None,
        write: FrameWriter | None = None,
        user_id: int | None = None,
        on_event: Callable[[Mapping], object] | None = None,
    ):
        self.send = send
        self.write = write  # daphne's fast path (``market.stream.wire``), or None
        self.tickers = tickers
        self.on_drop = on_drop
        self.user_id = user_id
        self.on_event = on_event  # called after a user event's frame was queued
        self.busy = False  # a send is suspended (back-pressure)
        self.closed = False
        self.outbox: deque[tuple[str, object]] = deque()  # own frames waiting while blocked, in order
        self.dirty: set[str] = set()  # tickers changed while blocked: one delta later


class StreamHub:
    """Fan-out of a ``PriceCache``'s writes to subscribed sockets. Use it on one event loop only."""

    def __init__(self, cache: PriceCache, health: Callable[[], dict]):
        self.cache = cache
        self._health = health
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._listening = False
        self._groups: dict[frozenset[str], dict[Subscriber, None]] = {}
        self._users: dict[int, dict[Subscriber, None]] = {}
        self._held: dict[Subscriber, None] = {}  # blocked sockets with something owed
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
        user_id: int | None = None,
        on_event: Callable[[Mapping], object] | None = None,
    ) -> Subscriber:
        """Register a socket following ``tickers``; ``send(text)`` must send one text frame.

        ``write(frame_bytes)``, when given, writes a ready-made WebSocket frame synchronously and
        returns True, False when the socket is gone, None when it holds the frame back because the
        client is not reading, or ``FALLBACK`` when the frame must go through ``send`` this time
        (``market.stream.wire.DirectWriter``, whose ``unsent()`` also says how much is waiting).
        ``on_drop`` is called if the hub gives up on the socket (its send failed or it fell too far
        behind), so the caller can close it. ``user_id`` makes the socket one of that user's, for
        ``deliver_event``; ``on_event(payload)`` is then called after each event frame is queued.
        Call from the event loop.
        """
        self._bind(asyncio.get_running_loop())
        subscriber = Subscriber(send, frozenset(tickers), on_drop, write, user_id, on_event)
        self._groups.setdefault(subscriber.tickers, {})[subscriber] = None
        if user_id is not None:
            self._users.setdefault(user_id, {})[subscriber] = None
        if self._monitor is None or self._monitor.done():
            self._status = self._health()["status"]
            self._monitor = self._loop.create_task(self._watch_forever(), name="stream-hub-status")
        return subscriber

    def disconnect(self, subscriber: Subscriber) -> None:
        """Forget a socket and everything owed to it (idempotent)."""
        subscriber.closed = True
        subscriber.outbox.clear()
        subscriber.dirty.clear()
        self._held.pop(subscriber, None)
        members = self._groups.get(subscriber.tickers)
        if members is not None:
            members.pop(subscriber, None)
            if not members:
                del self._groups[subscriber.tickers]
        sockets = self._users.get(subscriber.user_id)
        if sockets is not None:
            sockets.pop(subscriber, None)
            if not sockets:
                del self._users[subscriber.user_id]
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
        """Send a frame of the socket's own (error, event) after what went before."""
        self._queue(subscriber, (_FRAME, text))

    def send_snapshot(self, subscriber: Subscriber, tickers: Sequence[str]) -> None:
        """Send the snapshot of ``tickers``; snapshots owed to a blocked socket merge into one."""
        self._queue(subscriber, (_SNAPSHOT, list(tickers)))

    def send_status(self, subscriber: Subscriber, health: Mapping) -> None:
        """Send a status frame; a blocked socket is owed only the latest one."""
        self._queue(subscriber, (_STATUS, status_frame(health)))

    def deliver_event(self, user_id: int, payload: Mapping) -> int:
        """A user event (``market.stream.events``): a frame to each of that user's sockets here.

        Returns how many sockets it was queued for. Call from the event loop (``deliver_event_soon``
        from any thread).
        """
        sockets = tuple(self._users.get(user_id, ()))
        if not sockets:
            return 0
        text = event_frame(payload)
        for subscriber in sockets:
            self.send(subscriber, text)
            if subscriber.on_event is not None and not subscriber.closed:
                try:
                    subscriber.on_event(payload)
                except Exception:
                    logger.exception("price stream: a socket's event callback failed")
        return len(sockets)

    def deliver_event_soon(self, user_id: int, payload: Mapping) -> None:
        """``deliver_event`` from any thread; nothing to do while this hub serves no loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            self.deliver_event(user_id, payload)
        else:
            # A context of its own: not the caller's (asgiref marks its sync thread in the context, and
            # work the event starts on the loop must not look as if it ran there).
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self.deliver_event, user_id, payload, context=contextvars.Context())

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
        self._users = {}
        self._held = {}
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
            self._flush_held()
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
                if subscriber.closed:
                    continue
                if subscriber.busy or subscriber.outbox or subscriber.dirty:
                    self._hold(subscriber, changed)  # owed frames go first; it gets the latest later
                elif subscriber.write is not None:
                    if frame is None:
                        frame = text_frame(text.encode())
                    self._write(subscriber, frame, text, changed)
                else:
                    self._start(subscriber, text)

    # Sending

    def _blocked(self, subscriber: Subscriber) -> bool:
        return subscriber.busy or (subscriber.write is not None and subscriber.write.unsent() > MAX_UNSENT)

    def _hold(self, subscriber: Subscriber, changed: Iterable[str]) -> None:
        subscriber.dirty.update(changed)
        self._held[subscriber] = None

    def _queue(self, subscriber: Subscriber, entry: tuple[str, object]) -> None:
        if subscriber.closed:
            return
        if not subscriber.outbox and not self._blocked(subscriber):
            self._emit(subscriber, entry)
            return
        kind, value = entry
        outbox = subscriber.outbox
        last = outbox[-1] if outbox else None
        if kind == _SNAPSHOT and last is not None and last[0] == _SNAPSHOT:
            outbox[-1] = (_SNAPSHOT, list(dict.fromkeys([*last[1], *value])))
        elif kind == _STATUS and last is not None and last[0] == _STATUS:
            outbox[-1] = entry
        elif len(outbox) >= MAX_BACKLOG:
            self._drop(subscriber, "it stopped reading")
            return
        else:
            outbox.append(entry)
        self._held[subscriber] = None

    def _emit(self, subscriber: Subscriber, entry: tuple[str, object]) -> None:
        kind, value = entry
        self._start(subscriber, self.snapshot_frame(value) if kind == _SNAPSHOT else value)

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
            self._hold(subscriber, changed)  # the client is not reading: keep only what changed
        else:
            self._drop(subscriber, "it is closed", logging.DEBUG)
        return False

    def _flush_held(self) -> None:
        for subscriber in tuple(self._held):
            self._flush(subscriber)

    def _flush(self, subscriber: Subscriber) -> None:
        """What a blocked socket is owed, once it is not blocked: its own frames in order, then one
        delta with the latest prices of what changed meanwhile."""
        while subscriber.outbox and not subscriber.closed and not self._blocked(subscriber):
            self._emit(subscriber, subscriber.outbox.popleft())
        if (
            subscriber.dirty
            and not subscriber.outbox
            and not subscriber.closed
            and not self._blocked(subscriber)
        ):
            tickers = [ticker for ticker in subscriber.dirty if ticker in subscriber.tickers]
            subscriber.dirty.clear()
            updates = self.cache.get_many(tickers)
            if updates:
                text = prices_frame(price_entry(update) for update in updates.values())
                if subscriber.write is not None:
                    self._write(subscriber, text_frame(text.encode()), text, updates)
                else:
                    self._start(subscriber, text)
        if subscriber.closed or not (subscriber.outbox or subscriber.dirty):
            self._held.pop(subscriber, None)

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
        self._held[subscriber] = None
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

    # Source freshness, and sockets that were blocked

    async def _watch_forever(self) -> None:
        """Tell every socket when the source goes stale and when it recovers; retry blocked sockets."""
        while True:
            await asyncio.sleep(STATUS_CHECK_INTERVAL)
            try:
                self._flush_held()
                health = self._health()
                if health["status"] == self._status:
                    continue
                self._status = health["status"]
                for members in list(self._groups.values()):
                    for subscriber in tuple(members):
                        self.send_status(subscriber, health)
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
