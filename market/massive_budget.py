"""The plan's request budget, shared by the snapshot poll and the history backfill.

Massive's free plan allows 5 requests a minute in all. The poll comes first and keeps its cadence: it
never waits for backfills, it records each request and reserves its share, ``ceil(window / interval)``
polls (of as many requests as its snapshot needs) in any window; for that bound to hold, a poll
starts no sooner than ``interval`` after the previous one (``poll_slot``: a few milliseconds of
jitter at most). A backfill request takes what is left: it waits
until, over the last ``window`` seconds, backfills used less than ``limit - reserved`` and all requests
less than ``limit``. Since the poll never sends more than its share in any window and backfills never
more than the rest, no window holds more than ``limit`` requests. A 429 (from either) stops backfills
until its ``Retry-After`` has passed.

``limit=None`` is a plan without a limit: nobody waits.
"""

import math
import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_LIMIT = 5
DEFAULT_WINDOW = 60.0
DEFAULT_BLOCK = 60.0  # a 429 without Retry-After pauses backfills this long


class RequestBudget:
    """Requests per sliding window: the poll's (recorded, never refused) and the backfill's (waited for)."""

    def __init__(
        self,
        limit: int | None = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = limit
        self.window = float(window)
        self.clock = clock
        self._condition = threading.Condition()
        self._all: deque[float] = deque()
        self._spare: deque[float] = deque()
        self._reserved = 0
        self._last_poll = -math.inf
        self._blocked_until = 0.0
        self.spare_used = 0

    @classmethod
    def from_settings(cls) -> "RequestBudget":
        from django.conf import settings

        limit = getattr(settings, "MASSIVE_REQUESTS_PER_MINUTE", DEFAULT_LIMIT)
        return cls(limit=limit or None)

    # The poll's side

    def reserve_for_polls(self, interval: float, requests_per_poll: int = 1) -> None:
        """The poll sends ``requests_per_poll`` requests every ``interval`` seconds (or less often)."""
        with self._condition:
            self._reserved = math.ceil(self.window / interval - 1e-9) * max(1, requests_per_poll)
            self._condition.notify_all()

    def poll_slot(self, interval: float) -> None:
        """Wait (in the poll's worker thread) until ``interval`` has passed since the last poll began."""
        with self._condition:
            wait = self._last_poll + interval - self.clock()
        if wait > 0:
            time.sleep(wait)
        with self._condition:
            self._last_poll = self.clock()

    def record(self) -> None:
        """A poll request goes out now (never refused)."""
        with self._condition:
            self._all.append(self.clock())

    def block_for(self, seconds: float | None) -> None:
        """Massive answered 429: no backfill request before ``seconds`` (default a minute) have passed."""
        with self._condition:
            until = self.clock() + (DEFAULT_BLOCK if seconds is None else max(0.0, seconds))
            self._blocked_until = max(self._blocked_until, until)

    # The backfill's side

    @property
    def spare(self) -> int | None:
        """Requests per window left to backfills (None: unlimited)."""
        return None if self.limit is None else max(0, self.limit - self._reserved)

    def acquire_spare(self, stop: threading.Event | None = None, timeout: float | None = None) -> bool:
        """Wait until a backfill request may go out, and count it. False when ``stop`` is set or
        ``timeout`` passed first."""
        deadline = None if timeout is None else self.clock() + timeout
        with self._condition:
            while True:
                if stop is not None and stop.is_set():
                    return False
                now = self.clock()
                wait = self._wait(now)
                if wait <= 0:
                    self._all.append(now)
                    self._spare.append(now)
                    self.spare_used += 1
                    return True
                if deadline is not None:
                    if now >= deadline:
                        return False
                    wait = min(wait, deadline - now)
                # Bounded, so that a stop (an Event, not this condition) is noticed soon.
                self._condition.wait(min(wait, 0.5))

    def _wait(self, now: float) -> float:
        """Seconds until a backfill request may go (0: now). Caller holds the condition."""
        if self.limit is None:
            return 0.0
        for times in (self._all, self._spare):
            while times and times[0] <= now - self.window:
                times.popleft()
        waits = [self._blocked_until - now]
        spare = self.spare
        if spare == 0:
            waits.append(self.window)  # nothing left to backfills while the poll needs it all
        elif len(self._spare) >= spare:
            waits.append(self._spare[len(self._spare) - spare] + self.window - now)
        if len(self._all) >= self.limit:
            waits.append(self._all[len(self._all) - self.limit] + self.window - now)
        return max(waits)

    def wake(self) -> None:
        with self._condition:
            self._condition.notify_all()
