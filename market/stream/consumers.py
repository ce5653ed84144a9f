"""``/ws/prices/``: the price stream consumer. It translates frames to hub calls and back.

The rules live elsewhere: the protocol and subscription rules in ``market.stream_protocol``, the
tick fan-out in ``market.hub`` (ticks reach the socket straight from the hub, not through this
consumer's dispatch), default subscriptions and user events in ``market.stream``.
"""

import asyncio
import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from .events import astream_tickers_for, user_group
from .hub import get_hub
from .protocol import (
    ProtocolError,
    Subscription,
    error_frame,
    event_frame,
    parse_command,
    status_frame,
)
from .wire import SERVER_SEND, direct_writer

logger = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013


class PriceStreamConsumer(AsyncWebsocketConsumer):
    hub = None
    subscriber = None
    subscription: Subscription
    group: str | None = None

    async def connect(self):
        await self.accept()
        self.hub = get_hub()
        self.user = self.scope.get("user")
        self.subscription = Subscription(await astream_tickers_for(self.user))
        if self.user is not None and self.user.is_authenticated and self.channel_layer is not None:
            self.group = user_group(self.user.pk)
            await self.channel_layer.group_add(self.group, self.channel_name)
        # Registering and queueing the snapshot with no await in between: no tick can slip past.
        self.subscriber = self.hub.connect(
            self._send_text,
            self.subscription.tickers,
            self._dropped,
            write=self._frame_writer(),
        )
        self.hub.send(self.subscriber, self.hub.snapshot_frame(self.subscription.tickers))
        health = self.hub.health()
        if health["status"] != "ok":
            self.hub.send(self.subscriber, status_frame(health))

    async def disconnect(self, code):
        if self.subscriber is not None:
            self.hub.disconnect(self.subscriber)
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.subscriber is None:
            return
        if text_data is None:
            self.hub.send(self.subscriber, error_frame("binary frames are not supported: send JSON text"))
            return
        try:
            command = parse_command(text_data)
            snapshot_of = self.subscription.apply(command)
        except ProtocolError as exc:
            self.hub.send(self.subscriber, error_frame(str(exc)))
            return
        self.hub.set_tickers(self.subscriber, self.subscription.tickers)
        if command.action == "subscribe":
            self.hub.send(self.subscriber, self.hub.snapshot_frame(snapshot_of))

    async def stream_event(self, event):
        """A user event from ``market.stream.notify_user``: forward it, then follow a changed default."""
        if self.subscriber is None:
            return
        self.hub.send(self.subscriber, event_frame(event["payload"]))
        if self.subscription.explicit:
            return
        added, removed = self.subscription.follow_default(await astream_tickers_for(self.user))
        if added or removed:
            self.hub.set_tickers(self.subscriber, self.subscription.tickers)
        if added:
            self.hub.send(self.subscriber, self.hub.snapshot_frame(added))

    def _frame_writer(self):
        """daphne's fast path for ticks (``market.wire``), unless ``MARKET_STREAM_FAST_PATH`` is off."""
        if not getattr(settings, "MARKET_STREAM_FAST_PATH", True):
            return None
        return direct_writer(self.scope.get(SERVER_SEND))

    async def _send_text(self, text: str) -> None:
        await self.base_send({"type": "websocket.send", "text": text})

    def _dropped(self) -> None:
        self.subscriber = None
        self._closing = asyncio.ensure_future(self.close(code=CLOSE_TRY_AGAIN_LATER))
