"""System checks of the market app, each with a fixed id:

- ``market.E001``: a Redis that ``REDIS_URL`` names but nobody answers at;
- ``market.E002``: a hook setting (``MARKET_TICKER_DEMAND``, ``MARKET_STREAM_TICKERS``,
  ``MARKET_PERIODIC_JOBS``, ``MARKET_TICK_LISTENERS``) that cannot be imported or used.

Bad values of the environment variables themselves are reported by ``finally_site.checks``.
"""

from urllib.parse import urlsplit, urlunsplit

import redis
from django.core.checks import Error

from . import config, hooks

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


def check_hooks(app_configs=None, **kwargs):
    """Import every hook setting now, so a typo stops start-up instead of silently changing behaviour."""
    return [
        Error(
            problem, hint="Fix the dotted path in settings (see README, 'Configuration').", id="market.E002"
        )
        for problem in hooks.problems()
    ]
