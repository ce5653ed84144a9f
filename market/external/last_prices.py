"""What ``runfeed`` keeps in Redis: the last prices it published, the tickers it tracks, its state.

Server processes read it when they start (so pages have prices at once) and after they missed ticks;
a restarted ``runfeed`` reads it to continue from the last prices instead of the start prices, and
falls back on the ticker set when the database cannot be read. The database stays the truth for the
ticker set: this is a copy that makes restarts smooth.

Keys (none expires: a restart a day later still resumes):
- ``finally:last_prices``: hash, ticker -> JSON ``[price, previous_price, timestamp, previous_close]``
  (an older runfeed's three items are read too)
- ``finally:tickers``: set of the tickers ``runfeed`` tracks
- ``finally:feed``: hash, the publisher's state (``FeedState``)
"""

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from redis import asyncio as aioredis

from ..updates import PriceUpdate, make_update

logger = logging.getLogger(__name__)

PRICES_KEY = "finally:last_prices"
TICKERS_KEY = "finally:tickers"
STATE_KEY = "finally:feed"

CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0


@dataclass(slots=True)
class FeedState:
    """Where the publisher stood after its last publish (wall-clock times in Unix seconds)."""

    run: str
    seq: int
    source: str
    interval: float
    last_success: float | None  # the source's last success, as runfeed's cache saw it
    published_at: float
    unknown: list[str] = field(default_factory=list)  # tickers the source does not know (Massive)

    def to_redis(self) -> dict[str, str]:
        return {
            "run": self.run,
            "seq": str(self.seq),
            "source": self.source,
            "interval": repr(self.interval),
            "last_success": "" if self.last_success is None else repr(self.last_success),
            "published_at": repr(self.published_at),
            "unknown": json.dumps(list(self.unknown)),
        }

    @classmethod
    def from_redis(cls, fields: dict[str, str]) -> "FeedState | None":
        try:
            return cls(
                run=fields["run"],
                seq=int(fields["seq"]),
                source=fields["source"],
                interval=float(fields["interval"]),
                last_success=float(fields["last_success"]) if fields.get("last_success") else None,
                published_at=float(fields["published_at"]),
                unknown=[str(ticker) for ticker in json.loads(fields.get("unknown") or "[]")],
            )
        except (KeyError, TypeError, ValueError):
            return None


def connect(url: str) -> aioredis.Redis:
    """A client for ``url`` with short time-outs, so an unreachable Redis fails fast instead of hanging."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=COMMAND_TIMEOUT,
    )


def _encode(update: PriceUpdate) -> str:
    return json.dumps([update.price, update.previous_price, update.timestamp, update.previous_close])


def _decode(ticker: str, raw: str) -> PriceUpdate | None:
    try:
        values = json.loads(raw)
        price, previous, timestamp = (float(value) for value in values[:3])
        close = float(values[3]) if len(values) > 3 and values[3] is not None else None
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    if not all(math.isfinite(value) for value in (price, previous, timestamp)) or price <= 0:
        return None
    if close is not None and not (math.isfinite(close) and close > 0):
        close = None
    return make_update(ticker, price, previous, timestamp, close)


class LastPriceStore:
    """Reads and writes the keys above through one ``redis.asyncio`` client (one event loop)."""

    def __init__(self, client: aioredis.Redis):
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> "LastPriceStore":
        return cls(connect(url))

    async def close(self) -> None:
        await self.client.aclose()

    async def load(self) -> tuple[dict[str, PriceUpdate], FeedState | None]:
        """The last published prices and the publisher's state (``{}``, ``None`` when there are none)."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(PRICES_KEY)
            pipe.hgetall(STATE_KEY)
            raw_prices, raw_state = await pipe.execute()
        prices = {}
        for ticker, raw in raw_prices.items():
            update = _decode(ticker, raw)
            if update is not None:
                prices[ticker] = update
        return prices, FeedState.from_redis(raw_state) if raw_state else None

    async def tickers(self) -> set[str]:
        """The tickers ``runfeed`` tracked last."""
        return set(await self.client.smembers(TICKERS_KEY))

    async def save(
        self,
        updates: Iterable[PriceUpdate],
        state: FeedState,
        *,
        removed: Iterable[str] = (),
        tickers: Iterable[str] | None = None,
        replace: bool = False,
    ) -> bool:
        """Store one publish: ``updates`` (all prices when ``replace``), ``removed`` tickers, the state.

        ``tickers`` (the whole tracked set) is stored when given. Returns False when Redis had lost
        the state before this write (a restarted Redis): the caller then writes everything with
        ``replace=True``, since the hash now holds only this write's prices.
        """
        mapping = {update.ticker: _encode(update) for update in updates}
        removed = list(removed)
        async with self.client.pipeline(transaction=replace) as pipe:
            pipe.exists(STATE_KEY)
            if replace:
                pipe.delete(PRICES_KEY)
            if mapping:
                pipe.hset(PRICES_KEY, mapping=mapping)
            if removed and not replace:
                pipe.hdel(PRICES_KEY, *removed)
            if tickers is not None:
                tickers = list(tickers)
                pipe.delete(TICKERS_KEY)
                if tickers:
                    pipe.sadd(TICKERS_KEY, *tickers)
            pipe.hset(STATE_KEY, mapping=state.to_redis())
            results = await pipe.execute()
        return replace or bool(results[0])

    async def clear(self) -> None:
        """Forget everything (tests and a deliberate reset)."""
        await self.client.delete(PRICES_KEY, TICKERS_KEY, STATE_KEY)
