"""Which pages may open the price stream: the WebSocket handshake's ``Origin`` must be the page's own.

CSRF protection does not cover WebSockets and a browser sends the user's cookies to any page's
socket, so the origin check is what keeps another site (or another port on the same host) from
reading a user's watchlist and trade events. The rule:

- the ``Host`` the handshake was sent to must be one of ``ALLOWED_HOSTS`` (Django's own rule);
- the ``Origin`` must equal the request's own origin, scheme, host and port alike (``ws`` goes
  with ``http``, ``wss`` with ``https``), or be one of ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com``
  covers the subdomains), as Django's CSRF check allows them: behind a TLS-terminating proxy, either
  run daphne with ``--proxy-headers`` or list the public origin there;
- a handshake without a ``Host`` (no browser sends one; test harnesses do) falls back to the origin's
  host being one of ``ALLOWED_HOSTS``. A missing or ``null`` Origin is refused.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}


def allowed_hosts() -> list[str]:
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]  # Django's own default in DEBUG
    return list(settings.ALLOWED_HOSTS)


def _origin(value: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin such as ``https://example.com:8443``; None if it is not one."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _trusted(origin: tuple[str, str, int]) -> bool:
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        trusted = _origin(entry.replace("://*.", "://wildcard.", 1))
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        pattern = "." + trusted[1].removeprefix("wildcard.") if "://*." in entry else trusted[1]
        if is_same_domain(host, pattern):
            return True
    return False


def origin_allowed(scope) -> bool:
    """Whether a WebSocket handshake (an ASGI scope) comes from a page allowed to open it."""
    headers = {name.lower(): value for name, value in scope.get("headers", [])}
    raw_origin = headers.get(b"origin", b"").decode("latin-1")
    origin = _origin(raw_origin)
    if origin is None:
        return False
    raw_host = headers.get(b"host", b"").decode("latin-1")
    if not raw_host:
        return validate_host(origin[1], allowed_hosts())
    domain, port = split_domain_port(raw_host)
    if not domain or not validate_host(domain, allowed_hosts()):
        return False
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    own = (scheme, domain, int(port) if port else DEFAULT_PORTS[scheme])
    return origin == own or _trusted(origin)


class SameOriginValidator:
    """ASGI middleware: a WebSocket handshake from anywhere but an allowed origin is refused (403)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
