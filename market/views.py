"""HTTP views of the market app."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .feed import get_feed


@require_safe
@never_cache
def healthz(request):
    """``{"status": "ok" | "stale", "source", "tickers", "last_tick_age"}``; HTTP 503 when stale.

    A stale 503 is the answer, not a server error: ``market.logs.StaleHealthzFilter`` keeps Django
    from logging every probe as an ERROR.
    """
    health = get_feed().health()
    return JsonResponse(health, status=200 if health["status"] == "ok" else 503)
