"""One ``runfeed`` publishes at a time: a lease in Redis, held by renewing it.

The leader holds ``finally:runfeed:leader`` (``SET NX PX``) and renews it every second; a second
``runfeed`` waits and takes over once the key expires (the leader died or lost Redis). The holder
counts its lease as valid only until ``ttl`` (minus a margin) after the last successful renewal, so a
leader cut off from Redis stops publishing before anyone else can start.
"""

import os
import socket
import time
import uuid

from redis import asyncio as aioredis

LOCK_KEY = "finally:runfeed:leader"
DEFAULT_TTL = 5.0
RENEW_INTERVAL = 1.0

# Renew our lease, or take the lock again if it expired meanwhile (Redis restarted, a long pause);
# never take it from another holder.
_RENEW_OR_TAKE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
elseif not holder then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def describe_this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderLock:
    """A renewable lease on ``key``. Redis errors propagate; ``held()`` never touches Redis."""

    def __init__(self, client: aioredis.Redis, key: str = LOCK_KEY, ttl: float = DEFAULT_TTL):
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.client = client
        self.key = key
        self.ttl = ttl
        self.token = f"{describe_this_process()}:{uuid.uuid4().hex[:8]}"
        self._valid_until = 0.0

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def _granted(self, asked_at: float) -> None:
        # Counted from before the request: the key cannot outlive the lease we believe we hold.
        self._valid_until = asked_at + self.ttl * 0.8

    def held(self) -> bool:
        """True while our lease is surely still ours (checked locally before every publish)."""
        return time.monotonic() < self._valid_until

    async def acquire(self) -> bool:
        """Take the lock if nobody holds it."""
        asked_at = time.monotonic()
        if await self.client.set(self.key, self.token, nx=True, px=self._ttl_ms):
            self._granted(asked_at)
            return True
        return False

    async def renew(self) -> bool:
        """Extend our lease (or re-take a lock that expired); False when another process holds it."""
        asked_at = time.monotonic()
        if await self.client.eval(_RENEW_OR_TAKE, 1, self.key, self.token, self._ttl_ms):
            self._granted(asked_at)
            return True
        self._valid_until = 0.0
        return False

    async def release(self) -> None:
        """Give the lock up if we still hold it, so a waiting process takes over at once."""
        self._valid_until = 0.0
        await self.client.eval(_RELEASE, 1, self.key, self.token)

    async def holder(self) -> str | None:
        """Who holds the lock now (``host:pid:tag``), or None."""
        value = await self.client.get(self.key)
        if isinstance(value, bytes):
            value = value.decode()
        return value
