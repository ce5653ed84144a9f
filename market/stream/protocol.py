"""The ``/ws/prices/`` protocol: parsing client frames, building server frames, subscription rules.

Pure code (no I/O, no Django), so every rule of the contract is unit-testable on its own.

Client frames: ``{"action": "subscribe" | "unsubscribe", "tickers": [...]}``. Anything else is a
``ProtocolError`` whose message is sent back as ``{"type": "error", "error": "<why>"}``.

Server frames are JSON text with compact separators: ``snapshot``, ``prices`` (deltas), ``status``,
``error``, and user events (any payload with a ``type``, e.g. ``watchlist``).

Subscription rule: a connection starts on its default set (the user's watchlist and positions, or
the default ten). Its first ``subscribe`` replaces that implicit default (the contract: "a connection
that never subscribes gets the default"); from then on the set is explicit, later ``subscribe``
messages add to it and ``unsubscribe`` removes from it. An ``unsubscribe`` also makes the set explicit,
so a later ``subscribe`` adds to what is left. Only a connection still on its default follows changes
of that default (watchlist edits).
"""

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..tickers import MAX_TICKERS_PER_MESSAGE, InvalidTicker, normalize_ticker
from ..updates import PriceUpdate

ACTIONS = ("subscribe", "unsubscribe")
MESSAGES_PER_SECOND = 5.0  # a client's messages, on average: a page sends a few in all
MESSAGE_BURST = 20  # at once
ABUSE_LIMIT = 50  # refused messages, unforgiven, before the connection is closed (policy violation)
MAX_TICKERS_PER_CONNECTION = 2000
HISTORY_POINTS = 120  # per ticker in a snapshot: two minutes at 1 s, a minute at the default 0.5 s
HISTORY_BUDGET = 12_000  # points per snapshot in all, so a connect never costs megabytes

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class ProtocolError(ValueError):
    """A client frame the stream refuses; the message says why, for the client."""


@dataclass(frozen=True, slots=True)
class Command:
    action: str  # "subscribe" or "unsubscribe"
    tickers: tuple[str, ...]  # normalised, without duplicates, in the client's order


def _shorten(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_command(text: str) -> Command:
    """Parse one client text frame; raise ``ProtocolError`` for anything malformed."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(
            'message must be a JSON object, e.g. {"action": "subscribe", "tickers": ["AAPL"]}'
        )
    if "action" not in data:
        raise ProtocolError('message has no "action": use "subscribe" or "unsubscribe"')
    action = data["action"]
    if not isinstance(action, str) or action not in ACTIONS:
        raise ProtocolError(f'unknown action {_shorten(action)}: use "subscribe" or "unsubscribe"')
    if "tickers" not in data:
        raise ProtocolError(f'"{action}" needs "tickers": a list of ticker symbols')
    raw_tickers = data["tickers"]
    if not isinstance(raw_tickers, list):
        raise ProtocolError('"tickers" must be a list of ticker symbols')
    if len(raw_tickers) > MAX_TICKERS_PER_MESSAGE:
        raise ProtocolError(
            f"too many tickers: {len(raw_tickers)} in one message, at most {MAX_TICKERS_PER_MESSAGE}"
        )
    tickers: dict[str, None] = {}
    for raw in raw_tickers:
        try:
            tickers[normalize_ticker(raw)] = None
        except InvalidTicker as exc:
            raise ProtocolError(str(exc)) from None
    return Command(action, tuple(tickers))


@dataclass
class Subscription:
    """One connection's ticker set and whether the client chose it (see the module docstring)."""

    tickers: list[str] = field(default_factory=list)
    explicit: bool = False

    def __post_init__(self) -> None:
        self.tickers = list(dict.fromkeys(self.tickers))

    def apply(self, command: Command) -> list[str]:
        """Apply a client command; return the tickers to answer with a snapshot (the ones subscribed to).

        Raises ``ProtocolError`` (changing nothing) when the set would grow past its limit.
        """
        if command.action == "subscribe":
            return self.subscribe(command.tickers)
        self.unsubscribe(command.tickers)
        return []

    def subscribe(self, tickers: Sequence[str]) -> list[str]:
        if not tickers:
            return []
        base = self.tickers if self.explicit else []
        merged = list(dict.fromkeys([*base, *tickers]))
        if len(merged) > MAX_TICKERS_PER_CONNECTION:
            raise ProtocolError(
                f"too many tickers: a connection follows at most {MAX_TICKERS_PER_CONNECTION}"
            )
        self.tickers = merged
        self.explicit = True
        return list(tickers)

    def unsubscribe(self, tickers: Iterable[str]) -> None:
        gone = set(tickers)
        self.tickers = [ticker for ticker in self.tickers if ticker not in gone]
        self.explicit = True

    def follow_default(self, default: Sequence[str]) -> tuple[list[str], list[str]]:
        """Move a connection still on its default to the new default; return ``(added, removed)``."""
        if self.explicit:
            return [], []
        default = list(dict.fromkeys(default))
        now, before = set(default), set(self.tickers)
        added = [ticker for ticker in default if ticker not in before]
        removed = [ticker for ticker in self.tickers if ticker not in now]
        self.tickers = default
        return added, removed


class MessageRate:
    """How many messages a connection may send: a token bucket of ``burst`` messages, refilled at
    ``per_second``. ``admit()`` says ``"ok"``, ``"refused"`` (answer with an error, change nothing) or
    ``"abusive"`` (``ABUSE_LIMIT`` refused since the bucket was last full: close the connection).

    Refusals are forgiven only once the client has been quiet long enough for its whole burst to come
    back, not when one message gets through: a flood is let through at ``per_second``, and a busy
    server that handles it slowly would otherwise never count fifty refusals between two of those."""

    def __init__(
        self,
        per_second: float = MESSAGES_PER_SECOND,
        burst: int = MESSAGE_BURST,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.per_second, self.burst, self.clock = per_second, burst, clock
        self.tokens = float(burst)
        self.refused = 0
        self._at = clock()

    def admit(self) -> str:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self._at) * self.per_second)
        self._at = now
        if self.tokens >= self.burst:
            self.refused = 0  # quiet for a whole burst: what was refused before is forgiven
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return "ok"
        self.refused += 1
        return "abusive" if self.refused >= ABUSE_LIMIT else "refused"

    def refusal(self) -> str:
        return f"too many messages: at most {self.burst} at once and {self.per_second:g} a second"


def history_points(ticker_count: int) -> int:
    """How many recent points per ticker a snapshot of ``ticker_count`` tickers carries."""
    return max(1, min(HISTORY_POINTS, HISTORY_BUDGET // max(1, ticker_count)))


def snapshot_frame(
    prices: Mapping[str, PriceUpdate], history: Mapping[str, Sequence[tuple[float, float]]]
) -> str:
    """``{"type": "snapshot", "prices": {T: PriceUpdate}, "history": {T: [[timestamp, price], ...]}}``."""
    return _dumps(
        {
            "type": "snapshot",
            "prices": {ticker: update.to_dict() for ticker, update in prices.items()},
            "history": {ticker: [list(point) for point in points] for ticker, points in history.items()},
        }
    )


def price_entry(update: PriceUpdate) -> str:
    """One ``"T":{...}`` member of a ``prices`` frame, built once per tick and shared by every frame."""
    return f"{_dumps(update.ticker)}:{_dumps(update.to_dict())}"


def prices_frame(entries: Iterable[str]) -> str:
    """``{"type": "prices", "prices": {...}}`` from ``price_entry`` members."""
    return '{"type":"prices","prices":{' + ",".join(entries) + "}}"


def status_frame(health: Mapping) -> str:
    """``{"type": "status", "status": "ok" | "stale", "source": ..., "last_tick_age": ...}``."""
    return _dumps(
        {
            "type": "status",
            "status": health["status"],
            "source": health.get("source"),
            "last_tick_age": health.get("last_tick_age"),
        }
    )


def error_frame(reason: str) -> str:
    return _dumps({"type": "error", "error": reason})


def event_frame(payload: Mapping) -> str:
    """A user event (e.g. ``{"type": "watchlist", ...}``) exactly as the sender gave it."""
    return _dumps(dict(payload))
