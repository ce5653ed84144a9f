"""The ASGI application: HTTP to Django, ``/ws/prices/`` to the stream, the feed lifecycle around it."""

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import WebsocketDenier
from django.urls import re_path

from .consumers import PriceStreamConsumer
from .lifecycle import FeedLifecycle
from .origins import SameOriginValidator
from .wire import KeepServerSend

websocket_urlpatterns = [
    re_path(r"^ws/prices/?$", PriceStreamConsumer.as_asgi()),
    # Any other WebSocket path is refused at the handshake (403) instead of erroring in the router.
    re_path(r"", WebsocketDenier.as_asgi()),
]


def build_application(django_asgi_app):
    """Wrap Django's ASGI app; WebSocket handshakes must come from the page's own origin
    (``market.stream.origins``)."""
    websocket = KeepServerSend(SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))))
    return FeedLifecycle(ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket}))
