"""Settings for FinAlly, read from the environment (see README, "Configuration").

Bad values do not raise here: they are collected in ``CONFIG_PROBLEMS`` and reported by the
``finally_site.checks`` system check (and by ``asgi.py`` for servers that skip checks) as one clear
line naming the variable.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
import redis

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


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        CONFIG_PROBLEMS.append(f"{name} must be a whole number of at least {minimum}, got {raw!r}")
        return default
    return value


DEVELOPMENT_SECRET_KEY = "django-insecure-finally-dev-key-change-me-in-production-0123456789"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip() or DEVELOPMENT_SECRET_KEY
DEBUG = _env_bool("DJANGO_DEBUG", True)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    # The development key is public: with it, anyone could forge session and signed cookies.
    CONFIG_PROBLEMS.append(
        "DJANGO_SECRET_KEY must be set to a secret of your own when DJANGO_DEBUG=0 (it is unset or the "
        "public development key); make one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
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
    # Before daphne: its runserver then leaves static files to the ASGI app (finally_site.static).
    "servestatic",
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # its templates and static files: the API docs' Swagger UI, served from here, no CDN
    "axes",
    "csp",
    "finally_site",
    "market",
    "portfolio",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above the middleware whose errors it turns into JSON under /api/ (see its docstring).
    "portfolio.api.middleware.ApiErrorsMiddleware",
    "finally_site.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The login throttle: last, as django-axes asks, with its helper inside it.
    "axes.middleware.AxesMiddleware",
    "portfolio.login_throttle.LoginThrottleMiddleware",
]

# Every response's Content-Security-Policy (finally_site.csp): nothing inline, nothing from elsewhere;
# the page's own ws:// or wss:// stream is added to connect-src per request.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Named additions for the views that need them: @finally_site.csp.relaxed("api-docs").
CONTENT_SECURITY_POLICY_RELAXATIONS = {
    # django-ninja's Swagger UI (/api/docs/): inline styles and data: images.
    "api-docs": {"style-src": ["'unsafe-inline'"], "img-src": ["data:"]},
}

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
            # ``name|script_marked`` shows look-alike names everywhere without a {% load %} in each template.
            "builtins": ["portfolio.templatetags.lookalikes"],
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

# django-axes first: it refuses a locked-out login before any backend checks the password. It has no
# get_user, so code that logs a user in names ModelBackend (sign-up does).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The login throttle (portfolio.login_throttle): 5 failures for one username, or from one address (each
# counted on its own), lock logins for it for 15 minutes, restarted by every attempt meanwhile.
AXES_FAILURE_LIMIT = _env_int("DJANGO_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=_env_int("DJANGO_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "portfolio.login_throttle.lockout_response"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "dashboard"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `collectstatic` writes and production serves from (finally_site.static).
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", "").strip() or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Production: hashed names, a manifest, gzip and Brotli copies (finally_site.storage); DEBUG: plain
    # files from the app folders, so a fresh clone runs without `collectstatic`.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "finally_site.storage.StaticFilesStorage"
    },
}

REDIS_URL = os.environ.get("REDIS_URL", "").strip() or None
# "default" carries user events, once per server process (market.stream.events); "market" carries
# runfeed's ticks and re-checks (market.external.control). Members of their groups re-join every few
# seconds, so a short group_expiry drops a killed server. channels-redis waits for messages with a
# blocking pop of 5 s, so reads must be allowed longer than that: redis-py's default is also 5 s,
# and an idle layer then fails with "Timeout reading from redis" every few seconds. After a Redis
# restart each pooled connection is stale: a command that finds it closed is retried once on a new one.
_REDIS_HOST = {
    "address": REDIS_URL,
    "socket_timeout": 15,
    "socket_connect_timeout": 5,
    "retry_on_error": [redis.exceptions.ConnectionError],
}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [_REDIS_HOST], "capacity": 1000, "expiry": 10, "group_expiry": 60},
        },
        "market": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [_REDIS_HOST], "capacity": 1000, "expiry": 10, "group_expiry": 30},
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
# Tick listeners of the owner of the source (the embedded server, or runfeed): the bar recorder
# stores bars and the latest prices, the order engine fills orders.
MARKET_TICK_LISTENERS: list[str] = [
    "market.history.recorder.create_recorder",
    "portfolio.orders.engine.OrderEngine",
]
# Massive requests a minute the plan allows, shared by the snapshot poll and history backfills
# (market.massive_budget); None for a plan without a limit.
MASSIVE_REQUESTS_PER_MINUTE: int | None = 5
# Portfolio value snapshots (every 30 s) older than this are deleted, so the table stays bounded.
PORTFOLIO_SNAPSHOT_RETENTION_DAYS = 30
# Orders: how many one user may have open; how often the order engine re-reads recently changed orders
# (repairing a change whose message was lost).
PORTFOLIO_MAX_OPEN_ORDERS = 100
PORTFOLIO_ORDER_RESYNC_INTERVAL = 5.0
# The ASGI application starts this process's feed (lazily, or on lifespan); tests turn it off.
MARKET_AUTOSTART = True

# Production (DJANGO_DEBUG=0) is secure by default: HTTPS only (a redirect, then a year of HSTS for the
# host and its subdomains, preload-ready) and cookies sent over HTTPS only. Each can be switched off by
# its variable; the operator then chose it, so exactly the matching `check --deploy` warning is silenced.
SILENCED_SYSTEM_CHECKS: list[str] = []
if not DEBUG:
    SESSION_COOKIE_SECURE = _env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = _env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
    SECURE_HSTS_SECONDS = _env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("DJANGO_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    if _env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
        # Behind a proxy that terminates TLS and sets X-Forwarded-Proto (and strips it from clients).
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    _chosen = {
        "security.W008": not SECURE_SSL_REDIRECT,
        "security.W004": not SECURE_HSTS_SECONDS,
        "security.W005": bool(SECURE_HSTS_SECONDS) and not SECURE_HSTS_INCLUDE_SUBDOMAINS,
        "security.W021": bool(SECURE_HSTS_SECONDS) and not SECURE_HSTS_PRELOAD,
        "security.W012": not SESSION_COOKIE_SECURE,
        "security.W016": not CSRF_COOKIE_SECURE,
    }
    SILENCED_SYSTEM_CHECKS += [check for check, switched_off in _chosen.items() if switched_off]

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
