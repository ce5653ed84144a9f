"""The market layer's configuration, read from the environment at call time.

Every reader raises ``ConfigError`` with a one-line message naming the variable, so start-up can
report bad configuration plainly (see ``market.checks``) instead of failing later with a traceback.
"""

import math
import os

DEFAULT_MASSIVE_POLL_INTERVAL = 15.0
DEFAULT_SIMULATOR_INTERVAL = 0.5
DEFAULT_MAX_TICKERS = 2000
DEFAULT_MINUTE_BARS_DAYS = 7
DEFAULT_DAILY_BARS_DAYS = 3650
MAX_RETENTION_DAYS = 36500
FEED_MODES = ("embedded", "external")


class ConfigError(ValueError):
    """A configuration variable holds a value the project cannot use."""


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _positive_seconds(name: str, default: float) -> float:
    raw = _env(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    if value > 86400:
        raise ConfigError(f"{name} must be at most 86400 seconds, got {raw!r}")
    return value


def _positive_days(name: str, default: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of days, got {raw!r}") from None
    if not 1 <= value <= MAX_RETENTION_DAYS:
        raise ConfigError(f"{name} must be between 1 and {MAX_RETENTION_DAYS} days, got {raw!r}")
    return value


def massive_api_key() -> str:
    return _env("MASSIVE_API_KEY")


def massive_base_url() -> str | None:
    raw = _env("MASSIVE_BASE_URL")
    if raw and not raw.startswith(("http://", "https://")):
        raise ConfigError(f"MASSIVE_BASE_URL must start with http:// or https://, got {raw!r}")
    return raw.rstrip("/") or None


def massive_poll_interval() -> float:
    return _positive_seconds("MASSIVE_POLL_INTERVAL", DEFAULT_MASSIVE_POLL_INTERVAL)


def simulator_interval() -> float:
    return _positive_seconds("SIMULATOR_INTERVAL", DEFAULT_SIMULATOR_INTERVAL)


def simulator_seed() -> int | None:
    raw = _env("SIMULATOR_SEED")
    if not raw:
        return None
    try:
        seed = int(raw)
    except ValueError:
        raise ConfigError(f"SIMULATOR_SEED must be an integer, got {raw!r}") from None
    if seed < 0:
        raise ConfigError(f"SIMULATOR_SEED must be zero or a positive integer, got {raw!r}")
    return seed


def minute_bars_days() -> int:
    """How many days one-minute bars are kept (``MARKET_MINUTE_BARS_DAYS``)."""
    return _positive_days("MARKET_MINUTE_BARS_DAYS", DEFAULT_MINUTE_BARS_DAYS)


def daily_bars_days() -> int:
    """How many days daily bars are kept (``MARKET_DAILY_BARS_DAYS``)."""
    return _positive_days("MARKET_DAILY_BARS_DAYS", DEFAULT_DAILY_BARS_DAYS)


def redis_url() -> str | None:
    raw = _env("REDIS_URL")
    if raw and not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {raw!r}")
    return raw or None


def market_feed() -> str:
    raw = _env("MARKET_FEED").lower() or "embedded"
    if raw not in FEED_MODES:
        raise ConfigError(f"MARKET_FEED must be 'embedded' or 'external', got {raw!r}")
    if raw == "external" and not _env("REDIS_URL"):
        raise ConfigError("MARKET_FEED=external needs REDIS_URL (the feed reaches servers over Redis)")
    return raw


def market_feed_or_default() -> str:
    """``market_feed()``, or ``"embedded"`` when it is misconfigured (reported at start-up instead)."""
    try:
        return market_feed()
    except ConfigError:
        return "embedded"


def max_tickers() -> int:
    """``MARKET_MAX_TICKERS``: the most tickers the feed tracks in all (default 2000); adding a ticker
    beyond it is refused where the change is made (a watchlist entry)."""
    raw = _env("MARKET_MAX_TICKERS")
    if not raw:
        return DEFAULT_MAX_TICKERS
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"MARKET_MAX_TICKERS must be a whole number of tickers, got {raw!r}") from None
    if value < 10:
        raise ConfigError(f"MARKET_MAX_TICKERS must be at least 10 (the default ten), got {raw!r}")
    return value


def max_tickers_or_default() -> int:
    """``max_tickers()``, or the default when it is misconfigured (reported at start-up instead)."""
    try:
        return max_tickers()
    except ConfigError:
        return DEFAULT_MAX_TICKERS


def source_name() -> str:
    """``"massive"`` when an API key is set, else ``"simulator"`` (the factory's rule)."""
    return "massive" if massive_api_key() else "simulator"


def source_interval() -> float:
    """Seconds between the configured source's updates."""
    return massive_poll_interval() if source_name() == "massive" else simulator_interval()


def stale_after(interval: float) -> float:
    """A source is stale after three of its intervals without success, and never before 5 s."""
    return max(3 * interval, 5.0)


def validate() -> list[str]:
    """Every configuration problem, one clear line each (empty when all is well)."""
    problems = []
    for reader in (
        massive_base_url,
        massive_poll_interval,
        simulator_interval,
        simulator_seed,
        redis_url,
        market_feed,
        max_tickers,
        minute_bars_days,
        daily_bars_days,
    ):
        try:
            reader()
        except ConfigError as exc:
            problems.append(str(exc))
    return problems
