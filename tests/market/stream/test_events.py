"""User events: ``market.stream.notify_user`` reaches every open stream socket of that user only."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from market.feed import get_feed
from market.stream.events import notify_user
from tests import stream_support
from tests.stream_support import open_stream, receive

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _stream(settings):
    stream_support.reset_channel_layers()
    stream_support.DEFAULT_SUBSCRIPTIONS.clear()
    settings.MARKET_STREAM_TICKERS = stream_support.HOOK
    settings.MARKET_AUTOSTART = False  # prices come from the hand-filled cache, not a running source
    cache = get_feed().cache
    cache.update_many(["AAPL", "MSFT", "TSLA", "NVDA"], [190.0, 420.0, 250.0, 800.0])
    yield
    stream_support.reset_channel_layers()


def _login(username: str):
    user = get_user_model().objects.create_user(username, password="x-pass-123456")
    client = Client()
    client.force_login(user)
    return user, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def login(username: str):
    return await database_sync_to_async(_login)(username)


async def test_an_event_reaches_every_socket_of_that_user_and_no_one_else():
    stream_support.DEFAULT_SUBSCRIPTIONS.update(ada=["AAPL"], bob=["AAPL"])
    ada, ada_cookie = await login("ada")
    _, bob_cookie = await login("bob")
    ada_tab_1, _ = await open_stream([ada_cookie])
    ada_tab_2, _ = await open_stream([ada_cookie])
    bob_tab, _ = await open_stream([bob_cookie])
    event = {"type": "trade", "trade": {"ticker": "AAPL", "side": "buy"}, "cash": "9810.00"}
    # From sync code in a worker thread, as a portfolio on_commit callback runs under ASGI.
    await sync_to_async(notify_user)(ada.pk, event)
    assert await receive(ada_tab_1) == event
    assert await receive(ada_tab_2) == event
    assert await bob_tab.receive_nothing(timeout=0.2)
    for tab in (ada_tab_1, ada_tab_2, bob_tab):
        await tab.disconnect()


async def test_an_event_sent_from_the_event_loop_is_delivered():
    stream_support.DEFAULT_SUBSCRIPTIONS["ada"] = ["AAPL"]
    ada, cookie = await login("ada")
    tab, _ = await open_stream([cookie])
    notify_user(ada.pk, {"type": "hello"})
    assert await receive(tab) == {"type": "hello"}
    await tab.disconnect()


async def test_a_socket_on_its_default_follows_a_watchlist_change():
    stream_support.DEFAULT_SUBSCRIPTIONS["ada"] = ["AAPL", "MSFT"]
    ada, cookie = await login("ada")
    tab, _ = await open_stream([cookie])
    stream_support.DEFAULT_SUBSCRIPTIONS["ada"] = ["MSFT", "TSLA"]
    event = {"type": "watchlist", "name": "Default", "tickers": ["MSFT", "TSLA"]}
    await sync_to_async(notify_user)(ada.pk, event)
    assert await receive(tab) == event
    snapshot = await receive(tab)
    assert (snapshot["type"], list(snapshot["prices"])) == ("snapshot", ["TSLA"])
    get_feed().cache.update_many(["AAPL", "MSFT", "TSLA"], [191.0, 421.0, 251.0])
    assert (await receive(tab))["prices"].keys() == {"MSFT", "TSLA"}
    await tab.disconnect()


async def test_a_socket_that_subscribed_explicitly_keeps_its_own_set():
    stream_support.DEFAULT_SUBSCRIPTIONS["ada"] = ["AAPL"]
    ada, cookie = await login("ada")
    tab, _ = await open_stream([cookie])
    await tab.send_json_to({"action": "subscribe", "tickers": ["NVDA"]})
    assert (await receive(tab))["type"] == "snapshot"
    stream_support.DEFAULT_SUBSCRIPTIONS["ada"] = ["AAPL", "TSLA"]
    await sync_to_async(notify_user)(
        ada.pk, {"type": "watchlist", "name": "Default", "tickers": ["AAPL", "TSLA"]}
    )
    assert (await receive(tab))["type"] == "watchlist"
    get_feed().cache.update_many(["AAPL", "TSLA", "NVDA"], [191.0, 251.0, 801.0])
    assert (await receive(tab))["prices"].keys() == {"NVDA"}
    await tab.disconnect()


async def test_an_anonymous_socket_joins_no_user_group():
    stream_support.DEFAULT_SUBSCRIPTIONS[""] = ["AAPL"]
    tab, _ = await open_stream()
    ada, _ = await login("ada")
    notify_user(ada.pk, {"type": "hello"})
    assert await tab.receive_nothing(timeout=0.2)
    await tab.disconnect()


def test_an_event_without_a_type_is_a_programming_error():
    with pytest.raises(ValueError, match="type"):
        notify_user(1, {"tickers": []})
