"""System checks of the market app: a Redis that ``REDIS_URL`` names but nobody answers at.

Bad values of the variables themselves are reported by ``finally_site.checks`` (via ``market.config``).
"""

from urllib.parse import urlsplit, urlunsplit

import redis
from django.core.checks import Error

from . import config

PING_TIMEOUT = 1.0


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def redis_problem(timeout: float = PING_TIMEOUT) -> str | None:
    """One line naming ``REDIS_URL`` when it is set and its Redis does not answer a PING, else None."""
    try:
        url = config.redis_url()
    except config.ConfigError:
        return None  # a malformed value is reported by the configuration check
    if not url:
        return None
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"REDIS_URL {_without_password(url)} is unreachable: {reason}"
    finally:
        client.close()
    return None


def check_redis_reachable(app_configs=None, **kwargs):
    """Report an unreachable Redis at start-up as one named error, not a traceback on first use."""
    problem = redis_problem()
    if problem is None:
        return []
    return [
        Error(
            problem,
            hint="Start Redis, fix REDIS_URL, or unset it (and MARKET_FEED) to run on one process.",
            id="market.E001",
        )
    ]
