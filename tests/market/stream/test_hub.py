"""The stream hub: in-process fan-out of cache writes, coalescing, slow and failing sockets."""

import asyncio
import json
import threading
import time

import pytest

from market.cache import PriceCache
from market.stream.hub import MAX_BACKLOG, StreamHub
from market.stream.wire import FALLBACK, MAX_UNSENT

TIMEOUT = 2.0


def healthy():
    return {"status": "ok", "source": "simulator", "tickers": 0, "last_tick_age": 0.0}


class Socket:
    """A subscriber's send: records frames; can be made to hang (back-pressure) or to fail."""

    def __init__(self):
        self.frames: list[str] = []
        self.arrived: asyncio.Queue[str] = asyncio.Queue()
        self.gate: asyncio.Event | None = None  # when set up and not yet set, a send suspends on it
        self.fail = False
        self.dropped = False

    async def send(self, text: str) -> None:
        if self.fail:
            raise ConnectionError("socket gone")
        if self.gate is not None:
            await self.gate.wait()
        self.frames.append(text)
        self.arrived.put_nowait(text)

    def on_drop(self):
        self.dropped = True

    async def next(self) -> dict:
        """The next frame this socket was sent, in order."""
        return json.loads(await asyncio.wait_for(self.arrived.get(), TIMEOUT))

    def decoded(self) -> list[dict]:
        return [json.loads(frame) for frame in self.frames]


class Writer:
    """A socket's frame writer as the hub sees it: ``write(frame)`` decides the outcome, ``unsent()``
    how much it says is waiting."""

    def __init__(self, write, unsent=lambda: 0):
        self._write, self._unsent = write, unsent

    def __call__(self, frame: bytes):
        return self._write(frame)

    def unsent(self) -> int:
        return self._unsent()


@pytest.fixture
def cache():
    cache = PriceCache()
    cache.update_many(["AAPL", "MSFT", "TSLA"], [190.0, 420.0, 250.0])
    return cache


@pytest.fixture
def hub(cache):
    return StreamHub(cache, healthy)


def connect(hub, tickers):
    socket = Socket()
    socket.subscriber = hub.connect(socket.send, tickers, socket.on_drop)
    return socket


async def settle():
    """Let callbacks already scheduled on the loop run (the fan-out is one such callback)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_write_reaches_subscribers_of_the_changed_ticker_only(hub, cache):
    apple, tesla = connect(hub, ["AAPL"]), connect(hub, ["TSLA"])
    cache.update("AAPL", 191.0)
    frame = await apple.next()
    assert frame["type"] == "prices"
    assert frame["prices"]["AAPL"]["price"] == 191.0
    await settle()
    assert tesla.frames == []


async def test_writes_before_the_fan_out_runs_are_merged_into_one_frame(hub, cache):
    socket = connect(hub, ["AAPL", "MSFT", "TSLA"])
    cache.update("AAPL", 191.0)
    cache.update("AAPL", 192.0)
    cache.update("MSFT", 421.0)
    frame = await socket.next()
    assert frame["prices"].keys() == {"AAPL", "MSFT"}
    assert frame["prices"]["AAPL"]["price"] == 192.0
    await settle()
    assert len(socket.frames) == 1
    assert hub.fan_outs == 1


async def test_subscribers_with_the_same_set_share_one_built_frame(hub, cache):
    first, second = connect(hub, ["AAPL", "MSFT"]), connect(hub, ["MSFT", "AAPL"])
    cache.update_many(["AAPL", "MSFT"], [191.0, 421.0])
    await first.next()
    await second.next()
    assert first.frames[0] is second.frames[0]


async def test_an_unchanged_price_sends_nothing(hub, cache):
    socket = connect(hub, ["AAPL"])
    cache.update("AAPL", 190.0)
    await settle()
    assert socket.frames == []


async def test_writes_from_another_thread_are_delivered_on_the_loop(hub, cache):
    socket = connect(hub, ["AAPL"])
    loop_thread = threading.get_ident()
    sent_from = []
    original = socket.send

    async def recording_send(text):
        sent_from.append(threading.get_ident())
        await original(text)

    socket.subscriber.send = recording_send
    writer = threading.Thread(target=cache.update, args=("AAPL", 195.0))
    writer.start()
    writer.join()
    frame = await socket.next()
    assert frame["prices"]["AAPL"]["price"] == 195.0
    assert sent_from == [loop_thread]


async def test_a_stalled_socket_gets_only_the_latest_state_and_does_not_hold_up_others(hub, cache):
    stalled, healthy_socket = connect(hub, ["AAPL", "MSFT"]), connect(hub, ["AAPL", "MSFT"])
    stalled.gate = asyncio.Event()
    for price in (191.0, 192.0, 193.0, 194.0):
        cache.update("AAPL", price)
        assert (await healthy_socket.next())["prices"]["AAPL"]["price"] == price
    cache.update("MSFT", 430.0)
    await healthy_socket.next()
    assert stalled.frames == []
    stalled.gate.set()
    first = await stalled.next()
    second = await stalled.next()
    await settle()
    # The send that was in flight, then one delta with the latest price of everything that changed since.
    assert first["prices"]["AAPL"]["price"] == 191.0
    assert second["prices"].keys() == {"AAPL", "MSFT"}
    assert second["prices"]["AAPL"]["price"] == 194.0
    assert len(stalled.frames) == 2


async def test_own_frames_wait_in_order_behind_a_stalled_send(hub, cache):
    socket = connect(hub, ["AAPL"])
    socket.gate = asyncio.Event()
    hub.send(socket.subscriber, '{"type":"one"}')
    hub.send(socket.subscriber, '{"type":"two"}')
    hub.send(socket.subscriber, '{"type":"three"}')
    socket.gate.set()
    for _ in range(3):
        await socket.next()
    assert [frame["type"] for frame in socket.decoded()] == ["one", "two", "three"]


async def test_a_socket_that_never_drains_its_own_frames_is_dropped(hub, cache):
    socket = connect(hub, ["AAPL"])
    socket.gate = asyncio.Event()
    for _ in range(MAX_BACKLOG + 2):
        hub.send(socket.subscriber, '{"type":"x"}')
    assert socket.dropped
    assert hub.subscriber_count == 0


async def test_a_failing_send_drops_that_socket_only(hub, cache):
    broken, fine = connect(hub, ["AAPL"]), connect(hub, ["AAPL"])
    broken.fail = True
    cache.update("AAPL", 191.0)
    await fine.next()
    assert broken.dropped
    assert hub.subscriber_count == 1
    cache.update("AAPL", 192.0)
    assert (await fine.next())["prices"]["AAPL"]["price"] == 192.0


async def test_a_failing_fan_out_does_not_stop_later_ticks(hub, cache, monkeypatch):
    socket = connect(hub, ["AAPL"])
    real_get_many = cache.get_many
    calls = []

    def get_many_failing_once(tickers):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real_get_many(tickers)

    monkeypatch.setattr(cache, "get_many", get_many_failing_once)
    cache.update("AAPL", 191.0)
    await settle()
    assert socket.frames == []
    cache.update("AAPL", 192.0)
    assert (await socket.next())["prices"]["AAPL"]["price"] == 192.0


async def test_changing_a_sockets_tickers_changes_what_it_receives(hub, cache):
    socket = connect(hub, ["AAPL"])
    hub.set_tickers(socket.subscriber, ["TSLA"])
    cache.update_many(["AAPL", "TSLA"], [191.0, 251.0])
    frame = await socket.next()
    assert frame["prices"].keys() == {"TSLA"}


async def test_a_disconnected_socket_receives_nothing(hub, cache):
    socket = connect(hub, ["AAPL"])
    hub.disconnect(socket.subscriber)
    cache.update("AAPL", 191.0)
    await settle()
    assert socket.frames == []


async def test_status_frames_when_the_source_goes_stale_and_recovers(cache, monkeypatch):
    monkeypatch.setattr("market.stream.hub.STATUS_CHECK_INTERVAL", 0.02)
    state = {"status": "ok"}
    hub = StreamHub(cache, lambda: {**healthy(), **state})
    socket = connect(hub, ["AAPL"])
    state["status"] = "stale"
    assert (await socket.next())["status"] == "stale"
    state["status"] = "ok"
    assert (await socket.next()) == {
        "type": "status",
        "status": "ok",
        "source": "simulator",
        "last_tick_age": 0.0,
    }
    hub.disconnect(socket.subscriber)


async def test_snapshots_are_rebuilt_after_a_write(hub, cache):
    connect(hub, ["AAPL"])
    before = json.loads(hub.snapshot_frame(["AAPL"]))
    assert hub.snapshot_frame(["AAPL"]) is hub.snapshot_frame(["AAPL"])
    cache.update("AAPL", 199.0, timestamp=time.time())
    after = json.loads(hub.snapshot_frame(["AAPL"]))
    assert before["prices"]["AAPL"]["price"] == 190.0
    assert after["prices"]["AAPL"]["price"] == 199.0
    assert [point[1] for point in after["history"]["AAPL"]] == [190.0, 199.0]


async def test_sockets_with_a_frame_writer_share_one_ready_made_frame(hub, cache):
    written = {"a": [], "b": []}
    hub.connect(Socket().send, ["AAPL"], write=Writer(lambda frame: written["a"].append(frame) or True))
    hub.connect(Socket().send, ["AAPL"], write=Writer(lambda frame: written["b"].append(frame) or True))
    cache.update("AAPL", 191.0)
    await settle()
    (frame,) = written["a"]
    assert written["b"][0] is frame
    assert frame[0] == 0x81
    assert json.loads(frame[2:] if frame[1] < 126 else frame[4:])["prices"]["AAPL"]["price"] == 191.0


async def test_a_socket_whose_writer_reports_it_closed_is_dropped(hub, cache):
    dropped = []
    subscriber = hub.connect(
        Socket().send, ["AAPL"], on_drop=lambda: dropped.append(1), write=Writer(lambda frame: False)
    )
    cache.update("AAPL", 191.0)
    await settle()
    assert dropped == [1]
    assert subscriber.closed
    assert hub.subscriber_count == 0


async def test_a_socket_held_back_by_its_writer_later_gets_one_frame_with_the_latest_prices(hub, cache):
    state = {"reading": False}
    frames = []

    def write(frame):
        if not state["reading"]:
            return None  # too much unsent: the frame is not written
        frames.append(json.loads(frame[2:] if frame[1] < 126 else frame[4:]))
        return True

    unsent = lambda: 0 if state["reading"] else MAX_UNSENT + 1  # noqa: E731
    hub.connect(Socket().send, ["AAPL", "MSFT", "TSLA"], write=Writer(write, unsent))
    cache.update("AAPL", 191.0)
    await settle()
    cache.update("MSFT", 421.0)
    await settle()
    assert frames == []
    state["reading"] = True
    cache.update("TSLA", 251.0)
    await settle()
    assert len(frames) == 1
    assert {ticker: update["price"] for ticker, update in frames[0]["prices"].items()} == {
        "AAPL": 191.0,
        "MSFT": 421.0,
        "TSLA": 251.0,
    }
    cache.update("AAPL", 192.0)
    await settle()
    assert frames[-1]["prices"].keys() == {"AAPL"}


async def test_a_frame_its_writer_cannot_take_now_goes_through_the_sockets_send(hub, cache):
    socket = Socket()
    hub.connect(socket.send, ["AAPL"], write=Writer(lambda frame: FALLBACK))
    cache.update("AAPL", 191.0)
    frame = await socket.next()
    assert frame["prices"]["AAPL"]["price"] == 191.0


async def test_snapshots_owed_to_a_socket_that_is_not_reading_merge_into_one(hub, cache):
    state = {"unsent": MAX_UNSENT + 1}
    socket = Socket()
    subscriber = hub.connect(socket.send, ["AAPL"], write=Writer(lambda frame: True, lambda: state["unsent"]))
    for _ in range(1000):
        hub.send_snapshot(subscriber, ["AAPL", "MSFT"])
    hub.send_snapshot(subscriber, ["TSLA"])
    assert socket.frames == []
    assert len(subscriber.outbox) == 1  # one snapshot owed, whatever was asked
    state["unsent"] = 0  # the client read what was waiting
    cache.update("AAPL", 191.0)
    snapshot = await socket.next()
    assert snapshot["type"] == "snapshot"
    assert list(snapshot["prices"]) == ["AAPL", "MSFT", "TSLA"]
    assert snapshot["prices"]["AAPL"]["price"] == 191.0  # built when sent, with the latest prices


async def test_a_socket_owed_too_many_frames_of_its_own_is_dropped_and_forgotten(hub, cache):
    socket = Socket()
    subscriber = hub.connect(
        socket.send, ["AAPL"], socket.on_drop, write=Writer(lambda frame: True, lambda: MAX_UNSENT + 1)
    )
    for index in range(MAX_BACKLOG + 1):
        hub.send(subscriber, json.dumps({"type": "error", "error": str(index)}))
    assert socket.dropped
    assert subscriber.closed and not subscriber.outbox
    assert hub.subscriber_count == 0


async def test_a_newer_status_replaces_one_still_owed(hub, cache):
    state = {"unsent": MAX_UNSENT + 1}
    socket = Socket()
    subscriber = hub.connect(socket.send, ["AAPL"], write=Writer(lambda frame: True, lambda: state["unsent"]))
    hub.send_status(subscriber, {"status": "stale", "source": "simulator", "last_tick_age": 9.0})
    hub.send_status(subscriber, {"status": "ok", "source": "simulator", "last_tick_age": 0.1})
    state["unsent"] = 0
    cache.update("AAPL", 191.0)
    assert (await socket.next())["status"] == "ok"
    await settle()
    assert [frame["type"] for frame in socket.decoded()] == ["status"]


async def test_a_user_event_reaches_that_users_sockets_only_and_tells_them(hub, cache):
    heard = []
    ada_1, ada_2, bob = Socket(), Socket(), Socket()
    hub.connect(ada_1.send, ["AAPL"], user_id=1, on_event=heard.append)
    hub.connect(ada_2.send, ["AAPL"], user_id=1)
    hub.connect(bob.send, ["AAPL"], user_id=2)
    assert hub.deliver_event(1, {"type": "trade"}) == 2
    assert (await ada_1.next(), await ada_2.next()) == ({"type": "trade"}, {"type": "trade"})
    assert heard == [{"type": "trade"}]
    await settle()
    assert bob.frames == []
