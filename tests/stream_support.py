"""Helpers for the price-stream tests: the real ASGI application, a default-subscription hook, sockets."""

from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

ORIGIN = (b"origin", b"http://localhost")
RECEIVE_TIMEOUT = 2.0

# What the test hook below answers: username -> tickers ("" for anonymous visitors).
DEFAULT_SUBSCRIPTIONS: dict[str, list[str]] = {}
HOOK = "tests.stream_support.stream_tickers"


def stream_tickers(user) -> list[str]:
    """A ``MARKET_STREAM_TICKERS`` hook the tests control through ``DEFAULT_SUBSCRIPTIONS``."""
    name = user.get_username() if user is not None and user.is_authenticated else ""
    return list(DEFAULT_SUBSCRIPTIONS.get(name, []))


def application():
    """The project's real ASGI application (origin check, auth, routing, feed lifecycle)."""
    from finally_site.asgi import application

    return application


def reset_channel_layers() -> None:
    """Each test runs its own event loop: an in-memory layer must not outlive the loop it was used in."""
    channel_layers.backends = {}


async def open_stream(headers=None, path: str = "/ws/prices/") -> tuple[WebsocketCommunicator, dict]:
    """Connect to the stream with a good Origin; return the socket and its first frame (the snapshot)."""
    communicator = WebsocketCommunicator(application(), path, headers=[ORIGIN, *(headers or [])])
    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    assert connected, "the stream refused a connection with a good Origin"
    snapshot = await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert snapshot["type"] == "snapshot", snapshot
    return communicator, snapshot


async def receive(communicator: WebsocketCommunicator, timeout: float = RECEIVE_TIMEOUT) -> dict:
    return await communicator.receive_json_from(timeout=timeout)


async def receive_type(communicator: WebsocketCommunicator, frame_type: str, limit: int = 20) -> dict:
    """The next frame of ``frame_type``, skipping others (e.g. ticks while waiting for a status)."""
    for _ in range(limit):
        frame = await receive(communicator)
        if frame["type"] == frame_type:
            return frame
    raise AssertionError(f"no {frame_type!r} frame among the next {limit}")
