"""HTTP views of the market app."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .feed import get_feed


@require_safe
@never_cache
def healthz(request):
    """``{"status": "ok" | "stale", "source", "tickers", "last_tick_age"}``; HTTP 503 when stale."""
    health = get_feed().health()
    response = JsonResponse(health, status=200 if health["status"] == "ok" else 503)
    # A stale feed is reported by the body and the status; Django would also log every 503 probe as
    # an ERROR ("Service Unavailable: /healthz"), flooding the log of a monitored server.
    response._has_been_logged = True
    return response
