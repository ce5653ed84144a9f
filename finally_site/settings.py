"""Settings for FinAlly, read from the environment (see README, "Configuration").

Bad values do not raise here: they are collected in ``CONFIG_PROBLEMS`` and reported by the
``finally_site.checks`` system check (and by ``asgi.py`` for servers that skip checks) as one clear
line naming the variable.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url

from market import config as market_config

BASE_DIR = Path(__file__).resolve().parent.parent

CONFIG_PROBLEMS: list[str] = market_config.validate()


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    CONFIG_PROBLEMS.append(f"{name} must be true or false (1/0, yes/no, on/off), got {raw!r}")
    return default


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip() or (
    "django-insecure-finally-dev-key-change-me-in-production-0123456789"
)
DEBUG = _env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]
CSRF_TRUSTED_ORIGINS = [
    origin.strip()
    for origin in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",")
    if origin.strip()
]
# The JSON API answers a CSRF failure in JSON; other pages keep Django's own 403 page.
CSRF_FAILURE_VIEW = "portfolio.api.errors.csrf_failure"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # its templates and static files: the API docs' Swagger UI, served from here, no CDN
    "finally_site",
    "market",
    "portfolio",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above the middleware whose errors it turns into JSON under /api/ (see its docstring).
    "portfolio.api.middleware.ApiErrorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "finally_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "finally_site.asgi.application"

_database_url = os.environ.get("DATABASE_URL", "").strip()
_sqlite_default = {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
try:
    _database = dj_database_url.parse(_database_url, conn_max_age=60) if _database_url else _sqlite_default
except ValueError:
    # The message names the scheme, never the password in the URL.
    _scheme = _database_url.partition("://")[0] if "://" in _database_url else "(none)"
    CONFIG_PROBLEMS.append(
        f"DATABASE_URL is not a database URL Django can use (scheme {_scheme!r}); "
        "use e.g. postgres://user:pass@host:5432/db or sqlite:////abs/path/db.sqlite3"
    )
    _database = _sqlite_default
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent trades wait for the write lock instead of failing with "database is locked";
    # BEGIN IMMEDIATE takes that lock up front so a read-then-write never deadlocks.
    _database["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    _database.pop("CONN_MAX_AGE", None)
    # A file, not the default shared-cache in-memory test database: there, concurrent threads get
    # SQLITE_LOCKED instead of waiting for the lock, so concurrency tests would not be real.
    # One file per test process, as several test runs may share the machine.
    _database["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"finally-test-{os.getpid()}.sqlite3")}
DATABASES = {"default": _database}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "dashboard"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

REDIS_URL = os.environ.get("REDIS_URL", "").strip() or None
# "default" carries user events to stream sockets; "market" carries runfeed's ticks and re-checks
# (market.external.control): its short group_expiry drops a killed server from the tick group.
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 10},
        },
        "market": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 10, "group_expiry": 30},
        },
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        "market": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
    }

# Hooks through which the market app learns what the portfolio app needs, without importing it
# (market.hooks; each is imported at start-up by a system check, so a typo stops start-up).
MARKET_TICKER_DEMAND = "portfolio.selectors.ticker_demand"
MARKET_STREAM_TICKERS = "portfolio.selectors.stream_tickers_for_user"
# (dotted path, seconds): run by the process that owns the source, once per deployment.
MARKET_PERIODIC_JOBS = [("portfolio.services.record_value_snapshots", 30)]
# Factories of tick listeners (market.listeners.TickListener) the feed starts with its source.
# The bar recorder stores bars and the latest prices (owner only: the embedded server, or runfeed).
MARKET_TICK_LISTENERS: list[str] = ["market.history.recorder.create_recorder"]
# Massive requests a minute the plan allows, shared by the snapshot poll and history backfills
# (market.massive_budget); None for a plan without a limit.
MASSIVE_REQUESTS_PER_MINUTE: int | None = 5
# Portfolio value snapshots (every 30 s) older than this are deleted, so the table stays bounded.
PORTFOLIO_SNAPSHOT_RETENTION_DAYS = 30
# The ASGI application starts this process's feed (lazily, or on lifespan); tests turn it off.
MARKET_AUTOSTART = True

if not DEBUG:
    SESSION_COOKIE_SECURE = _env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = _env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0") or 0)
    SECURE_CONTENT_TYPE_NOSNIFF = True

_market_log_level = os.environ.get("MARKET_LOG_LEVEL", "").strip().upper() or "INFO"
if _market_log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    CONFIG_PROBLEMS.append(f"MARKET_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR: {_market_log_level!r}")
    _market_log_level = "INFO"

# One console handler on the root logger; configuring "root" replaces the handler daphne's command line
# installs, so no line is printed twice, and test tools that listen on the root logger see everything.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"stale_healthz": {"()": "market.logs.StaleHealthzFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # Replaces Django's own console handler on "django" (records reach the root handler instead).
        "django": {"level": "INFO"},
        # A stale /healthz answers 503 by design: not a server error to log on every probe.
        "django.request": {"filters": ["stale_healthz"]},
        "market": {"level": _market_log_level},
        "portfolio": {"level": "INFO"},
    },
}
