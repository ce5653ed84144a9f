"""System checks for the project's environment configuration.

Each problem in ``settings.CONFIG_PROBLEMS`` is one line that starts with the variable it is about;
the variable gives the check its id, so ``finally.E003`` always means a bad ``SIMULATOR_INTERVAL``
and can be silenced by name (``SILENCED_SYSTEM_CHECKS``).
"""

import re

from django.conf import settings
from django.core.checks import Error, Tags, register

CHECK_IDS = {
    "MASSIVE_BASE_URL": "finally.E001",
    "MASSIVE_POLL_INTERVAL": "finally.E002",
    "SIMULATOR_INTERVAL": "finally.E003",
    "SIMULATOR_SEED": "finally.E004",
    "REDIS_URL": "finally.E005",
    "MARKET_FEED": "finally.E006",
    "DJANGO_DEBUG": "finally.E007",
    "DATABASE_URL": "finally.E008",
    "MARKET_LOG_LEVEL": "finally.E009",
    "MARKET_MAX_TICKERS": "finally.E010",
    "DJANGO_SECRET_KEY": "finally.E011",
    "DJANGO_SECURE_COOKIES": "finally.E012",
    "DJANGO_SECURE_SSL_REDIRECT": "finally.E013",
    "DJANGO_HSTS_SECONDS": "finally.E014",
    "MARKET_MINUTE_BARS_DAYS": "finally.E015",
    "MARKET_DAILY_BARS_DAYS": "finally.E016",
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "finally.E017",
    "DJANGO_HSTS_PRELOAD": "finally.E018",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "finally.E019",
    "DJANGO_LOGIN_FAILURE_LIMIT": "finally.E020",
    "DJANGO_LOGIN_LOCKOUT_MINUTES": "finally.E021",
}
OTHER_ID = "finally.E099"

_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")


def check_id(problem: str) -> str:
    """The id of a problem line: the one of the variable it starts with."""
    match = _VARIABLE.match(problem)
    return CHECK_IDS.get(match.group() if match else "", OTHER_ID)


@register(Tags.compatibility)
def check_environment(app_configs=None, **kwargs):
    """Report each bad environment variable as one named error instead of a traceback later."""
    return [
        Error(problem, hint="See README.md, 'Configuration'.", id=check_id(problem))
        for problem in getattr(settings, "CONFIG_PROBLEMS", [])
    ]
