"""/ws/prices/ through the project's real ASGI application, with a price cache filled by hand."""

import json
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from market.feed import get_feed
from market.interface import MarketDataSource
from market.seed_prices import DEFAULT_TICKERS
from market.stream.protocol import ABUSE_LIMIT, MESSAGE_BURST
from tests import stream_support
from tests.stream_support import ORIGIN, RECEIVE_TIMEOUT, open_stream, receive, receive_type


@pytest.fixture(autouse=True)
def _stream(settings):
    stream_support.reset_channel_layers()
    stream_support.DEFAULT_SUBSCRIPTIONS.clear()
    stream_support.DEFAULT_SUBSCRIPTIONS[""] = ["AAPL", "MSFT"]
    settings.MARKET_STREAM_TICKERS = stream_support.HOOK
    settings.MARKET_AUTOSTART = False  # prices come from the hand-filled cache, not a running source
    yield
    stream_support.reset_channel_layers()


@pytest.fixture
def cache():
    cache = get_feed().cache
    now = time.time()
    for step in range(3):
        cache.update_many(
            ["AAPL", "MSFT", "TSLA", "NVDA"],
            [190.0 + step, 420.0 + step, 250.0, 800.0],
            timestamp=now - 3 + step,
        )
    return cache


async def test_snapshot_on_connect_has_the_latest_price_and_history_of_each_default_ticker(cache):
    communicator, snapshot = await open_stream()
    assert snapshot["prices"].keys() == {"AAPL", "MSFT"}
    apple = snapshot["prices"]["AAPL"]
    assert apple.keys() >= {"ticker", "price", "previous_price", "timestamp", "change", "direction"}
    assert (apple["ticker"], apple["price"], apple["previous_price"], apple["direction"]) == (
        "AAPL",
        192.0,
        191.0,
        "up",
    )
    assert [price for _, price in snapshot["history"]["AAPL"]] == [190.0, 191.0, 192.0]
    assert snapshot["history"]["AAPL"][-1][0] == apple["timestamp"]
    await communicator.disconnect()


async def test_deltas_carry_only_subscribed_tickers_whose_price_changed(cache):
    communicator, _ = await open_stream()
    cache.update("AAPL", 200.0)
    cache.update("MSFT", 422.0)  # unchanged
    cache.update("TSLA", 260.0)  # not subscribed
    frame = await receive(communicator)
    assert frame["type"] == "prices"
    assert frame["prices"].keys() == {"AAPL"}
    assert frame["prices"]["AAPL"]["price"] == 200.0
    assert frame["prices"]["AAPL"]["previous_price"] == 192.0
    assert await communicator.receive_nothing(timeout=0.1)
    await communicator.disconnect()


async def test_first_subscribe_replaces_the_default_and_is_answered_with_a_snapshot(cache):
    communicator, _ = await open_stream()
    await communicator.send_json_to({"action": "subscribe", "tickers": [" tsla"]})
    snapshot = await receive(communicator)
    assert snapshot["type"] == "snapshot"
    assert snapshot["prices"].keys() == {"TSLA"}
    assert len(snapshot["history"]["TSLA"]) == 3
    cache.update_many(["AAPL", "TSLA"], [201.0, 261.0])
    assert (await receive(communicator))["prices"].keys() == {"TSLA"}
    await communicator.disconnect()


async def test_later_subscribe_adds_and_snapshots_the_added_tickers(cache):
    communicator, _ = await open_stream()
    await communicator.send_json_to({"action": "subscribe", "tickers": ["TSLA"]})
    await receive_type(communicator, "snapshot")
    await communicator.send_json_to({"action": "subscribe", "tickers": ["NVDA"]})
    snapshot = await receive(communicator)
    assert (snapshot["type"], snapshot["prices"].keys()) == ("snapshot", {"NVDA"})
    cache.update_many(["AAPL", "TSLA", "NVDA"], [201.0, 261.0, 801.0])
    assert (await receive(communicator))["prices"].keys() == {"TSLA", "NVDA"}
    await communicator.disconnect()


async def test_unsubscribe_stops_deltas_for_those_tickers(cache):
    communicator, _ = await open_stream()
    await communicator.send_json_to({"action": "unsubscribe", "tickers": ["aapl"]})
    # An unsubscribe has no answer; an (empty) subscribe after it does, so the unsubscribe took effect.
    await communicator.send_json_to({"action": "subscribe", "tickers": []})
    assert await receive(communicator) == {"type": "snapshot", "prices": {}, "history": {}}
    cache.update_many(["AAPL", "MSFT"], [201.0, 430.0])
    assert (await receive(communicator))["prices"].keys() == {"MSFT"}
    await communicator.disconnect()


async def test_subscribing_to_an_untracked_ticker_never_makes_the_feed_track_it(cache):
    class RecordingSource(MarketDataSource):
        def __init__(self):
            self.added = []

        async def start(self, tickers):
            pass

        async def stop(self):
            pass

        async def add_ticker(self, ticker):
            self.added.append(ticker)

        async def remove_ticker(self, ticker):
            pass

        def get_tickers(self):
            return list(DEFAULT_TICKERS)

    feed = get_feed()
    feed.source = RecordingSource()
    communicator, _ = await open_stream()
    await communicator.send_json_to({"action": "subscribe", "tickers": ["ZZZZ"]})
    snapshot = await receive(communicator)
    assert snapshot == {"type": "snapshot", "prices": {}, "history": {}}
    assert feed.source.added == []
    assert "ZZZZ" not in cache
    await communicator.disconnect()


MALFORMED = [
    ("not json", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"tickers": ["AAPL"]}', "action"),
    ('{"action": "sell", "tickers": ["AAPL"]}', "unknown action"),
    ('{"action": "subscribe"}', "tickers"),
    ('{"action": "subscribe", "tickers": "AAPL"}', "list"),
    ('{"action": "subscribe", "tickers": ["WAYTOOLONGX"]}', "too long"),
    ('{"action": "subscribe", "tickers": ["AA$PL"]}', "not valid"),
    (json.dumps({"action": "subscribe", "tickers": ["AAPL"] * 501}), "too many"),
]


@pytest.mark.parametrize(("text", "why"), MALFORMED)
async def test_a_malformed_message_gets_an_error_and_the_socket_stays_open(cache, text, why):
    communicator, _ = await open_stream()
    await communicator.send_to(text_data=text)
    error = await receive(communicator)
    assert error["type"] == "error"
    assert why in error["error"]
    await communicator.send_json_to({"action": "subscribe", "tickers": ["TSLA"]})
    assert (await receive(communicator))["prices"].keys() == {"TSLA"}
    await communicator.disconnect()


async def test_a_binary_frame_gets_an_error_and_the_socket_stays_open(cache):
    communicator, _ = await open_stream()
    await communicator.send_to(bytes_data=b'{"action": "subscribe", "tickers": ["TSLA"]}')
    error = await receive(communicator)
    assert error["type"] == "error" and "binary" in error["error"]
    cache.update("AAPL", 300.0)
    assert (await receive(communicator))["prices"].keys() == {"AAPL"}
    await communicator.disconnect()


@pytest.mark.parametrize("origin", [b"http://evil.example", b"null"])
async def test_a_foreign_origin_is_refused(cache, origin):
    communicator = WebsocketCommunicator(stream_support.application(), "/ws/prices/", [(b"origin", origin)])
    connected, _ = await communicator.connect(timeout=2)
    assert not connected


async def test_a_missing_origin_is_refused(cache):
    communicator = WebsocketCommunicator(stream_support.application(), "/ws/prices/")
    connected, _ = await communicator.connect(timeout=2)
    assert not connected


async def test_another_websocket_path_is_refused(cache):
    communicator = WebsocketCommunicator(stream_support.application(), "/ws/other/", [ORIGIN])
    connected, _ = await communicator.connect(timeout=2)
    assert not connected


async def test_status_frames_say_when_the_source_goes_stale_and_when_it_recovers(cache, monkeypatch):
    monkeypatch.setattr("market.stream.hub.STATUS_CHECK_INTERVAL", 0.05)
    communicator, _ = await open_stream()
    cache.mark_success(time.time() - 60)
    stale = await receive_type(communicator, "status")
    assert stale["status"] == "stale"
    assert stale["last_tick_age"] >= 60
    cache.update("AAPL", 205.0)
    ok = await receive_type(communicator, "status")
    assert ok["status"] == "ok"
    await communicator.disconnect()


async def test_a_connection_to_a_stale_source_hears_so_right_after_the_snapshot(cache):
    cache.mark_success(time.time() - 60)
    communicator, snapshot = await open_stream()
    assert snapshot["prices"].keys() == {"AAPL", "MSFT"}
    assert (await receive(communicator))["status"] == "stale"
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_anonymous_visitor_gets_the_default_ten(cache, settings):
    settings.MARKET_STREAM_TICKERS = "portfolio.selectors.stream_tickers_for_user"
    cache.update_many(list(DEFAULT_TICKERS), [100.0] * len(DEFAULT_TICKERS))
    communicator, snapshot = await open_stream()
    assert list(snapshot["prices"]) == list(DEFAULT_TICKERS)
    await communicator.disconnect()


def _session_cookie_for(username: str) -> tuple[bytes, bytes]:
    user = get_user_model().objects.create_user(username, password="x-pass-123456")
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.mark.django_db(transaction=True)
async def test_a_logged_in_user_gets_the_tickers_the_hook_gives_for_them(cache):
    stream_support.DEFAULT_SUBSCRIPTIONS["ada"] = ["NVDA", "TSLA"]
    cookie = await database_sync_to_async(_session_cookie_for)("ada")
    communicator, snapshot = await open_stream(headers=[cookie])
    assert list(snapshot["prices"]) == ["NVDA", "TSLA"]
    await communicator.disconnect()


async def test_a_failing_default_hook_falls_back_to_the_default_ten(cache, settings):
    settings.MARKET_STREAM_TICKERS = "tests.market.stream.test_consumer.failing_hook"
    cache.update_many(list(DEFAULT_TICKERS), [100.0] * len(DEFAULT_TICKERS))
    communicator, snapshot = await open_stream()
    assert list(snapshot["prices"]) == list(DEFAULT_TICKERS)
    await communicator.disconnect()


def failing_hook(user):
    raise RuntimeError("database unavailable")


async def test_a_client_that_keeps_flooding_messages_gets_errors_then_a_policy_close(cache):
    communicator, _ = await open_stream()
    for _ in range(MESSAGE_BURST + ABUSE_LIMIT):
        await communicator.send_json_to({"action": "subscribe", "tickers": ["AAPL"]})
    kinds, close = [], None
    while close is None:
        output = await communicator.receive_output(timeout=RECEIVE_TIMEOUT)
        if output["type"] == "websocket.close":
            close = output
        else:
            frame = json.loads(output["text"])
            kinds.append(frame["type"] if frame["type"] != "error" else frame["error"].split(":")[0])
    assert close["code"] == 4008
    assert kinds.count("snapshot") == MESSAGE_BURST  # what the burst allows, answered
    assert kinds.count("too many messages") == ABUSE_LIMIT  # every refused message told why
