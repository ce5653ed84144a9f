"""The ASGI application: HTTP to Django, ``/ws/prices/`` to the stream, the feed lifecycle around it."""

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.urls import re_path

from .consumers import PriceStreamConsumer
from .lifecycle import FeedLifecycle
from .wire import KeepServerSend

websocket_urlpatterns = [
    re_path(r"^ws/prices/?$", PriceStreamConsumer.as_asgi()),
    # Any other WebSocket path is refused at the handshake (403) instead of erroring in the router.
    re_path(r"", WebsocketDenier.as_asgi()),
]


class AllowedHostsOriginValidator(OriginValidator):
    """Channels' validator of the same name, but reading ``ALLOWED_HOSTS`` on each connection, not once at
    import: settings changed later (Django's test set-up adds ``testserver``, tests override it) apply."""

    def __init__(self, application):
        self.application = application  # (no super().__init__: ``allowed_origins`` is read-only here)

    @property
    def allowed_origins(self) -> list[str]:
        if settings.DEBUG and not settings.ALLOWED_HOSTS:
            return ["localhost", "127.0.0.1", "[::1]"]  # Django's own default in DEBUG
        return list(settings.ALLOWED_HOSTS)


def build_application(django_asgi_app):
    """Wrap Django's ASGI app; origins of WebSocket connections are checked against ``ALLOWED_HOSTS``."""
    websocket = KeepServerSend(
        AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
    )
    return FeedLifecycle(ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket}))
