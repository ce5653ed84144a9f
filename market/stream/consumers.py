"""``/ws/prices/``: the price stream consumer. It translates frames to hub calls and back.

The rules live elsewhere: the protocol, subscription and message-rate rules in
``market.stream.protocol``, the fan-out and what a slow socket may cost in ``market.stream.hub``
(ticks and user events reach the socket straight from the hub, not through this consumer's
dispatch), default subscriptions and user events in ``market.stream.events``.

The consumer holds no channel-layer channel (``channel_layer_alias = None``): nothing it needs
crosses the layer per socket, so a dead ``runfeed`` or Redis can never end a socket.
"""

import asyncio
import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from .events import astream_tickers_for, follow_user_events
from .hub import get_hub
from .protocol import MessageRate, ProtocolError, Subscription, error_frame, parse_command
from .wire import SERVER_SEND, direct_writer

logger = logging.getLogger(__name__)

# Close codes of the application range: autobahn lets a server send only 1000 or 3000-4999, so the
# protocol's own 1008 (policy violation) and 1013 (try again later) are 4008 and 4013 here.
CLOSE_POLICY_VIOLATION = 4008
CLOSE_TRY_AGAIN_LATER = 4013


class PriceStreamConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None  # see the module docstring
    hub = None
    subscriber = None
    subscription: Subscription

    async def connect(self):
        await self.accept()
        self.hub = get_hub()
        self.user = self.scope.get("user")
        self.rate = MessageRate()
        self._following: asyncio.Task | None = None
        self._follow_again = False
        self.subscription = Subscription(await astream_tickers_for(self.user))
        user_id = self.user.pk if self.user is not None and self.user.is_authenticated else None
        if user_id is not None:
            follow_user_events()
        # Registering and queueing the snapshot with no await in between: no tick can slip past.
        self.subscriber = self.hub.connect(
            self._send_text,
            self.subscription.tickers,
            self._dropped,
            write=self._frame_writer(),
            user_id=user_id,
            on_event=self._event,
        )
        self.hub.send_snapshot(self.subscriber, self.subscription.tickers)
        health = self.hub.health()
        if health["status"] != "ok":
            self.hub.send_status(self.subscriber, health)

    async def disconnect(self, code):
        if self.subscriber is not None:
            self.hub.disconnect(self.subscriber)
            self.subscriber = None
        if self._following is not None:
            self._following.cancel()

    async def receive(self, text_data=None, bytes_data=None):
        if self.subscriber is None:
            return
        verdict = self.rate.admit()
        if verdict != "ok":
            self.hub.send(self.subscriber, error_frame(self.rate.refusal()))
            if verdict == "abusive":
                logger.warning("price stream: closing a socket that kept sending too many messages")
                self.hub.disconnect(self.subscriber)
                self.subscriber = None
                await self.close(code=CLOSE_POLICY_VIOLATION)
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
            self.hub.send_snapshot(self.subscriber, snapshot_of)

    def _event(self, payload) -> None:
        """The hub queued a user event for this socket: a socket on its default set follows a change."""
        if self.subscription.explicit:
            return
        if self._following is not None and not self._following.done():
            self._follow_again = True  # one re-read after the one running covers this event too
            return
        self._following = asyncio.ensure_future(self._follow_default())

    async def _follow_default(self) -> None:
        while True:
            self._follow_again = False
            default = await astream_tickers_for(self.user)
            if self.subscriber is None or self.subscription.explicit:
                return
            added, removed = self.subscription.follow_default(default)
            if added or removed:
                self.hub.set_tickers(self.subscriber, self.subscription.tickers)
            if added:
                self.hub.send_snapshot(self.subscriber, added)
            if not self._follow_again:
                return

    def _frame_writer(self):
        """daphne's fast path for ticks (``market.stream.wire``) unless MARKET_STREAM_FAST_PATH is off."""
        if not getattr(settings, "MARKET_STREAM_FAST_PATH", True):
            return None
        return direct_writer(self.scope.get(SERVER_SEND))

    async def _send_text(self, text: str) -> None:
        await self.base_send({"type": "websocket.send", "text": text})

    def _dropped(self) -> None:
        self.subscriber = None
        self._closing = asyncio.ensure_future(self.close(code=CLOSE_TRY_AGAIN_LATER))
