"""The Content-Security-Policy of every response (django-csp 4.0; ``settings.CONTENT_SECURITY_POLICY``).

Scripts, styles, images and fonts come from the site itself only: no inline script or style, which the
templates never use (their data reaches the scripts in ``json_script`` blocks). Connections go to the
site itself and to its own price stream, ``ws://`` or ``wss://`` of the page's host, added per request
(``'self'`` covers WebSockets only in browsers that implement CSP level 3 fully).

A view that needs more (the API's Swagger UI sets inline styles and data: images) is wrapped in
``relaxed(name)``, naming an entry of ``settings.CONTENT_SECURITY_POLICY_RELAXATIONS``; for django-ninja:
``NinjaAPI(docs_decorator=relaxed("api-docs"))``.
"""

from csp.decorators import csp_update
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.exceptions import DisallowedHost


def stream_sources(request) -> list[str]:
    """The WebSocket origin of the page's own stream: ``wss://host`` over HTTPS, else ``ws://host``."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return []  # answered 400 anyway; 'self' remains
    return [f"{'wss' if request.is_secure() else 'ws'}://{host}"]


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the request's own stream origin in ``connect-src``."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", ()), *stream_sources(request)]
        parts.update = update
        return parts


def relaxed(name: str):
    """A view decorator adding ``settings.CONTENT_SECURITY_POLICY_RELAXATIONS[name]`` to its policy."""
    return csp_update(settings.CONTENT_SECURITY_POLICY_RELAXATIONS[name])
