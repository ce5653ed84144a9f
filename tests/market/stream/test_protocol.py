"""The /ws/prices/ protocol rules, without sockets: parsing, subscription changes, frame shapes."""

import json

import pytest

from market.models import make_update
from market.stream.protocol import (
    ABUSE_LIMIT,
    HISTORY_BUDGET,
    HISTORY_POINTS,
    Command,
    MessageRate,
    ProtocolError,
    Subscription,
    error_frame,
    history_points,
    parse_command,
    price_entry,
    prices_frame,
    snapshot_frame,
    status_frame,
)


def test_subscribe_command_normalises_tickers_and_drops_repeats():
    command = parse_command(
        json.dumps({"action": "subscribe", "tickers": [" aapl", "MSFT", "aapl ", "brk.b"]})
    )
    assert command == Command("subscribe", ("AAPL", "MSFT", "BRK.B"))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('"subscribe"', "JSON object"),
        ('{"tickers": ["AAPL"]}', 'no "action"'),
        ('{"action": "buy", "tickers": ["AAPL"]}', "unknown action"),
        ('{"action": 7, "tickers": ["AAPL"]}', "unknown action"),
        ('{"action": "subscribe"}', '"tickers"'),
        ('{"action": "subscribe", "tickers": "AAPL"}', "must be a list"),
        ('{"action": "subscribe", "tickers": ["TOOLONGTICKER"]}', "too long"),
        ('{"action": "subscribe", "tickers": ["AA PL"]}', "not valid"),
        ('{"action": "subscribe", "tickers": [""]}', "required"),
        ('{"action": "subscribe", "tickers": [42]}', "must be text"),
        (json.dumps({"action": "subscribe", "tickers": ["A"] * 501}), "too many tickers"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_command_is_refused_with_a_reason(text, why):
    with pytest.raises(ProtocolError, match=why):
        parse_command(text)


def test_five_hundred_tickers_in_one_message_are_allowed():
    tickers = [f"T{i}" for i in range(500)]
    assert len(parse_command(json.dumps({"action": "unsubscribe", "tickers": tickers})).tickers) == 500


def test_first_subscribe_replaces_the_implicit_default():
    subscription = Subscription(["AAPL", "MSFT"])
    assert subscription.subscribe(["TSLA"]) == ["TSLA"]
    assert subscription.tickers == ["TSLA"]
    assert subscription.explicit


def test_later_subscribes_add_to_the_set():
    subscription = Subscription(["AAPL"])
    subscription.subscribe(["TSLA"])
    assert subscription.subscribe(["NVDA", "TSLA"]) == ["NVDA", "TSLA"]
    assert subscription.tickers == ["TSLA", "NVDA"]


def test_unsubscribe_removes_and_makes_the_set_explicit():
    subscription = Subscription(["AAPL", "MSFT"])
    subscription.unsubscribe(["AAPL", "ZZZ"])
    assert subscription.tickers == ["MSFT"]
    subscription.subscribe(["TSLA"])
    assert subscription.tickers == ["MSFT", "TSLA"]


def test_empty_subscribe_changes_nothing():
    subscription = Subscription(["AAPL"])
    assert subscription.subscribe([]) == []
    assert subscription.tickers == ["AAPL"]
    assert not subscription.explicit


def test_a_connection_on_its_default_follows_a_new_default():
    subscription = Subscription(["AAPL", "MSFT"])
    assert subscription.follow_default(["MSFT", "TSLA"]) == (["TSLA"], ["AAPL"])
    assert subscription.tickers == ["MSFT", "TSLA"]


def test_an_explicit_subscription_ignores_a_new_default():
    subscription = Subscription(["AAPL"])
    subscription.subscribe(["TSLA"])
    assert subscription.follow_default(["NVDA"]) == ([], [])
    assert subscription.tickers == ["TSLA"]


def test_a_connection_cannot_grow_past_its_limit(monkeypatch):
    monkeypatch.setattr("market.stream.protocol.MAX_TICKERS_PER_CONNECTION", 3)
    subscription = Subscription()
    subscription.subscribe(["A", "B"])
    with pytest.raises(ProtocolError, match="at most 3"):
        subscription.subscribe(["C", "D"])
    assert subscription.tickers == ["A", "B"]


def test_snapshot_frame_has_price_updates_and_history_pairs():
    update = make_update("AAPL", 191.0, 190.0, 1700000000.5, previous_close=188.5)
    frame = json.loads(
        snapshot_frame({"AAPL": update}, {"AAPL": [(1700000000.0, 190.0), (1700000000.5, 191.0)]})
    )
    assert frame == {
        "type": "snapshot",
        "prices": {
            "AAPL": {
                "ticker": "AAPL",
                "price": 191.0,
                "previous_price": 190.0,
                "timestamp": 1700000000.5,
                "change": 1.0,
                "direction": "up",
                "previous_close": 188.5,
                "day_change": 2.5,
                "day_change_percent": pytest.approx(2.5 / 188.5 * 100),
            }
        },
        "history": {"AAPL": [[1700000000.0, 190.0], [1700000000.5, 191.0]]},
    }


def test_prices_frame_is_valid_json_with_each_update():
    entries = [
        price_entry(make_update("AAPL", 1.5, 2.0, 10.0)),
        price_entry(make_update("V", 3.0, 3.0, 10.0)),
    ]
    frame = json.loads(prices_frame(entries))
    assert frame["type"] == "prices"
    assert frame["prices"]["AAPL"]["direction"] == "down"
    assert frame["prices"]["V"]["direction"] == "flat"


def test_status_and_error_frames():
    health = {"status": "stale", "source": "simulator", "tickers": 10, "last_tick_age": 7.5}
    assert json.loads(status_frame(health)) == {
        "type": "status",
        "status": "stale",
        "source": "simulator",
        "last_tick_age": 7.5,
    }
    assert json.loads(error_frame("nope")) == {"type": "error", "error": "nope"}


def test_snapshot_history_shrinks_per_ticker_for_large_sets_only():
    assert history_points(10) == HISTORY_POINTS
    assert history_points(500) * 500 <= HISTORY_BUDGET
    assert history_points(100_000) == 1


def test_a_connection_may_send_a_burst_then_a_steady_few_messages_a_second():
    now = [0.0]
    rate = MessageRate(per_second=5, burst=20, clock=lambda: now[0])
    assert [rate.admit() for _ in range(20)] == ["ok"] * 20
    assert rate.admit() == "refused"
    now[0] += 1.0  # five more a second
    assert [rate.admit() for _ in range(5)] == ["ok"] * 5
    assert rate.admit() == "refused"
    assert "at most 20 at once and 5 a second" in rate.refusal()


def test_a_connection_that_keeps_sending_when_refused_is_abusive():
    rate = MessageRate(per_second=5, burst=1, clock=lambda: 0.0)
    assert rate.admit() == "ok"
    verdicts = [rate.admit() for _ in range(ABUSE_LIMIT)]
    assert verdicts == ["refused"] * (ABUSE_LIMIT - 1) + ["abusive"]


def test_a_flood_let_through_at_the_steady_rate_is_still_abusive():
    """A busy server handles a flood slowly: one message in five gets a refilled token, and the
    refusals between them still add up."""
    now = [0.0]
    rate = MessageRate(per_second=5, burst=20, clock=lambda: now[0])
    verdicts = []
    while "abusive" not in verdicts and len(verdicts) < 1000:
        verdicts.append(rate.admit())
        now[0] += 0.05  # a message every 50 ms: four times the steady rate
    assert verdicts.count("ok") > 20  # some got through on the refill...
    assert verdicts[-1] == "abusive"  # ...and the refusals were counted all the same
    assert verdicts.count("refused") == ABUSE_LIMIT - 1


def test_refusals_are_forgiven_once_the_whole_burst_has_come_back():
    now = [0.0]
    rate = MessageRate(per_second=5, burst=20, clock=lambda: now[0])
    for _ in range(20 + ABUSE_LIMIT - 1):
        rate.admit()  # the burst, then one refusal short of abusive
    now[0] += 4.0  # quiet long enough for 20 tokens
    assert [rate.admit() for _ in range(20)] == ["ok"] * 20
    assert [rate.admit() for _ in range(ABUSE_LIMIT - 1)] == ["refused"] * (ABUSE_LIMIT - 1)
    assert rate.admit() == "abusive"
