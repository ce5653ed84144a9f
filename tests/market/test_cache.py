"""PriceCache: the seed's semantics, history, the vectorised write path, freshness, listeners, threads."""

import threading
import time

import numpy as np
import pytest

from market.cache import PriceCache
from market.interface import PriceCache as ExportedPriceCache
from market.models import PriceUpdate


def as_tuple(update: PriceUpdate) -> tuple:
    return (
        update.ticker,
        update.price,
        update.previous_price,
        update.timestamp,
        update.change,
        update.direction,
    )


# The seed's API


def test_the_interface_module_exports_the_cache():
    assert ExportedPriceCache is PriceCache


def test_a_tickers_first_update_is_flat():
    update = PriceCache().update("AAPL", 190.0, timestamp=1.0)
    assert as_tuple(update) == ("AAPL", 190.0, 190.0, 1.0, 0.0, "flat")


@pytest.mark.parametrize(("second", "direction"), [(191.5, "up"), (188.25, "down"), (190.0, "flat")])
def test_direction_compares_with_the_previous_price(second, direction):
    cache = PriceCache()
    cache.update("AAPL", 190.0)
    update = cache.update("AAPL", second)
    assert (update.previous_price, update.direction) == (190.0, direction)


def test_change_is_price_minus_previous_price():
    cache = PriceCache()
    cache.update("AAPL", 190.0)
    assert cache.update("AAPL", 187.5).change == pytest.approx(-2.5)


def test_update_returns_what_get_then_reads():
    cache = PriceCache()
    cache.update("AAPL", 190.0, timestamp=5.0)
    update = cache.update("AAPL", 191.0, timestamp=6.0)
    assert as_tuple(cache.get("AAPL")) == as_tuple(update)


def test_timestamp_zero_is_kept_as_zero_not_now():
    assert PriceCache().update("AAPL", 190.0, timestamp=0).timestamp == 0.0


def test_no_timestamp_means_now():
    before = time.time()
    stamp = PriceCache().update("AAPL", 190.0).timestamp
    assert before <= stamp <= time.time()


def test_get_of_an_unknown_ticker_is_none():
    assert PriceCache().get("NOPE") is None


def test_get_all_returns_every_price():
    cache = PriceCache()
    cache.update("AAPL", 190.0)
    cache.update("MSFT", 420.0)
    assert {t: u.price for t, u in cache.get_all().items()} == {"AAPL": 190.0, "MSFT": 420.0}


def test_get_all_is_a_copy():
    cache = PriceCache()
    cache.update("AAPL", 190.0)
    snapshot = cache.get_all()
    snapshot.pop("AAPL")
    snapshot["FAKE"] = None
    assert list(cache.get_all()) == ["AAPL"]


def test_remove_forgets_the_ticker():
    cache = PriceCache()
    cache.update("AAPL", 190.0)
    cache.update("MSFT", 420.0)
    cache.remove("AAPL")
    assert cache.get("AAPL") is None
    assert list(cache.get_all()) == ["MSFT"]
    assert cache.history("AAPL") == []


def test_removing_an_unknown_ticker_is_harmless():
    cache = PriceCache()
    cache.remove("NOPE")
    assert cache.get_all() == {}


def test_a_ticker_added_again_after_removal_starts_flat():
    cache = PriceCache()
    cache.update("AAPL", 190.0)
    cache.remove("AAPL")
    update = cache.update("AAPL", 150.0)
    assert (update.previous_price, update.direction) == (150.0, "flat")


def test_reads_beyond_the_seed():
    cache = PriceCache()
    cache.update("AAPL", 190.0)
    cache.update("MSFT", 420.0)
    assert cache.get_price("AAPL") == 190.0 and cache.get_price("NOPE") is None
    assert set(cache.get_many(["AAPL", "NOPE"])) == {"AAPL"}
    assert sorted(cache.tickers()) == ["AAPL", "MSFT"]
    assert len(cache) == 2 and "MSFT" in cache and "NOPE" not in cache


# History


def test_history_is_oldest_first():
    cache = PriceCache()
    for i in range(5):
        cache.update("AAPL", 100.0 + i, timestamp=float(i))
    assert cache.history("AAPL") == [(float(i), 100.0 + i) for i in range(5)]


def test_history_limit_keeps_the_most_recent():
    cache = PriceCache()
    for i in range(5):
        cache.update("AAPL", 100.0 + i, timestamp=float(i))
    assert cache.history("AAPL", limit=2) == [(3.0, 103.0), (4.0, 104.0)]
    assert cache.history("AAPL", limit=0) == []


def test_history_wraps_at_history_size():
    cache = PriceCache(history_size=4)
    for i in range(11):
        cache.update("AAPL", 100.0 + i, timestamp=float(i))
    assert cache.history("AAPL") == [(float(i), 100.0 + i) for i in range(7, 11)]
    assert cache.history_size == 4


def test_history_of_an_unknown_ticker_is_empty():
    assert PriceCache().history("NOPE") == []


def test_histories_leaves_out_tickers_without_prices():
    cache = PriceCache()
    cache.update("AAPL", 190.0, timestamp=1.0)
    assert cache.histories(["AAPL", "NOPE"]) == {"AAPL": [(1.0, 190.0)]}


def test_history_size_must_be_positive():
    with pytest.raises(ValueError):
        PriceCache(history_size=0)


# The vectorised path


def test_write_slots_has_the_semantics_of_update():
    tickers = ["AAPL", "MSFT", "TSLA"]
    rounds = [([190.0, 420.0, 250.0], 0.0), ([191.0, 420.0, 249.0], 1.0), ([191.0, 419.5, 251.0], None)]
    one_by_one, vectorised = PriceCache(history_size=2), PriceCache(history_size=2)
    slots = vectorised.slots(tickers)
    before = time.time()
    for prices, timestamp in rounds:
        for ticker, price in zip(tickers, prices, strict=True):
            one_by_one.update(ticker, price, timestamp)
        vectorised.write_slots(slots, np.array(prices), timestamp)
    after = time.time()

    def without_timestamp(cache):
        return {t: (u.price, u.previous_price, u.change, u.direction) for t, u in cache.get_all().items()}

    assert without_timestamp(vectorised) == without_timestamp(one_by_one)
    for ticker in tickers:
        (old_time, old_price), (now, price) = vectorised.history(ticker)
        assert [old_price, price] == [p for _, p in one_by_one.history(ticker)]
        assert old_time == 1.0 and before <= now <= after
    assert vectorised.slots(tickers).tolist() == slots.tolist()


def test_write_slots_keeps_timestamp_zero():
    cache = PriceCache()
    cache.write_slots(cache.slots(["AAPL"]), np.array([190.0]), 0.0)
    assert cache.get("AAPL").timestamp == 0.0


def test_write_slots_first_write_is_flat_and_later_writes_compare():
    cache = PriceCache()
    slots = cache.slots(["AAPL", "MSFT"])
    cache.write_slots(slots, np.array([190.0, 420.0]), 1.0)
    cache.write_slots(slots, np.array([189.0, 421.0]), 2.0)
    assert [(u.previous_price, u.direction) for u in (cache.get("AAPL"), cache.get("MSFT"))] == [
        (190.0, "down"),
        (420.0, "up"),
    ]


def test_update_many_writes_each_ticker():
    cache = PriceCache()
    cache.update_many(["AAPL", "MSFT"], [190.0, 420.0], timestamp=3.0)
    assert {t: (u.price, u.timestamp) for t, u in cache.get_all().items()} == {
        "AAPL": (190.0, 3.0),
        "MSFT": (420.0, 3.0),
    }


def test_slots_are_stable_for_known_tickers():
    cache = PriceCache()
    first = cache.slots(["AAPL", "MSFT"])
    cache.update("TSLA", 250.0)
    assert cache.slots(["MSFT", "AAPL"]).tolist() == first[::-1].tolist()


def test_slots_survive_the_cache_growing():
    cache = PriceCache()
    cache.update("AAPL", 190.0)
    slot = cache.slots(["AAPL"])
    cache.update_many([f"T{i}" for i in range(500)], [1.0] * 500)
    cache.write_slots(slot, np.array([191.0]), 1.0)
    assert (cache.get("AAPL").price, cache.get("AAPL").previous_price) == (191.0, 190.0)


def test_layout_version_moves_when_a_slot_is_allocated_or_freed_only():
    cache = PriceCache()
    start = cache.layout_version
    cache.update("AAPL", 190.0)
    allocated = cache.layout_version
    cache.update("AAPL", 191.0)
    cache.slots(["AAPL"])
    assert cache.layout_version == allocated != start
    cache.remove("AAPL")
    assert cache.layout_version != allocated


def test_a_freed_slot_given_to_a_new_ticker_starts_clean_even_after_a_late_write():
    # A writer holding slots from before a removal writes once more into the freed slot;
    # the ticker that gets the slot next must still start flat with its own history only.
    cache = PriceCache()
    stale = cache.slots(["OLD"])
    cache.write_slots(stale, np.array([10.0]), 1.0)
    cache.remove("OLD")
    cache.write_slots(stale, np.array([11.0]), 2.0)
    update = cache.update("NEW", 50.0, timestamp=3.0)
    assert (update.previous_price, update.direction) == (50.0, "flat")
    assert cache.history("NEW") == [(3.0, 50.0)]


def test_apply_stores_updates_exactly_as_given():
    cache = PriceCache()
    cache.update("AAPL", 150.0)
    cache.apply([PriceUpdate("AAPL", 190.0, 189.0, 7.0, 1.0, "up")])
    assert as_tuple(cache.get("AAPL")) == ("AAPL", 190.0, 189.0, 7.0, 1.0, "up")


# Freshness


def test_age_is_none_before_any_success():
    cache = PriceCache()
    assert cache.age() is None and cache.last_success is None


def test_mark_success_sets_the_age():
    cache = PriceCache()
    cache.mark_success(when=100.0)
    assert cache.last_success == 100.0
    assert cache.age(now=103.5) == 3.5
    assert cache.age(now=99.0) == 0.0


@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.update("AAPL", 1.0, timestamp=0),
        lambda c: c.update_many(["AAPL"], [1.0], timestamp=0),
        lambda c: c.apply([PriceUpdate("AAPL", 1.0, 1.0, 0.0, 0.0, "flat")]),
    ],
    ids=["update", "write_slots", "apply"],
)
def test_every_write_counts_as_a_success_now(write):
    cache = PriceCache()
    before = time.time()
    write(cache)
    assert before <= cache.last_success <= time.time()


# Listeners


def test_listeners_hear_which_tickers_a_vectorised_write_changed():
    cache = PriceCache()
    batches = []
    cache.add_listener(batches.append)
    slots = cache.slots(["AAPL", "MSFT", "TSLA"])
    cache.write_slots(slots, np.array([190.0, 420.0, 250.0]), 1.0)
    cache.write_slots(slots, np.array([191.0, 420.0, 250.0]), 2.0)
    first, second = batches
    assert first.changed_in(["AAPL", "MSFT", "TSLA", "NOPE"]) == ["AAPL", "MSFT", "TSLA"]
    assert second.changed_in(["TSLA", "MSFT", "AAPL"]) == ["AAPL"]
    assert second.changed() == ["AAPL"]
    assert second.timestamp == 2.0


def test_listeners_hear_single_updates_that_change_a_price_only():
    cache = PriceCache()
    batches = []
    cache.add_listener(batches.append)
    cache.update("AAPL", 190.0)
    cache.update("AAPL", 190.0)
    cache.update("AAPL", 191.0)
    assert [b.changed_in(["AAPL"]) for b in batches] == [["AAPL"], ["AAPL"]]


def test_listeners_hear_applied_updates_that_change_a_price():
    cache = PriceCache()
    cache.update("AAPL", 190.0)
    batches = []
    cache.add_listener(batches.append)
    cache.apply(
        [
            PriceUpdate("AAPL", 190.0, 190.0, 1.0, 0.0, "flat"),
            PriceUpdate("MSFT", 420.0, 420.0, 1.0, 0.0, "flat"),
        ]
    )
    assert [b.changed_in(["AAPL", "MSFT"]) for b in batches] == [["MSFT"]]


def test_merged_batches_stand_for_both_writes():
    cache = PriceCache()
    batches = []
    cache.add_listener(batches.append)
    cache.update("AAPL", 190.0)
    cache.update_many(["MSFT"], [420.0])
    assert batches[0].merge(batches[1]).changed_in(["AAPL", "MSFT", "TSLA"]) == ["AAPL", "MSFT"]


def test_a_failing_listener_neither_stops_the_write_nor_the_other_listeners(caplog):
    cache = PriceCache()
    heard = []

    def broken(batch):
        raise RuntimeError("listener bug")

    cache.add_listener(broken)
    cache.add_listener(heard.append)
    cache.update("AAPL", 190.0)
    assert cache.get("AAPL").price == 190.0
    assert len(heard) == 1
    assert "listener" in caplog.text


def test_a_removed_listener_hears_nothing_more():
    cache = PriceCache()
    heard = []
    cache.add_listener(heard.append)
    cache.remove_listener(heard.append)
    cache.update("AAPL", 190.0)
    assert heard == []


# Threads


def test_concurrent_writers_lose_no_updates():
    threads, per_thread = 8, 1000
    cache = PriceCache(history_size=threads * per_thread)
    cache.update("SHARED", 0.0, timestamp=0.0)
    start = threading.Barrier(threads)
    errors = []

    def writer(k: int) -> None:
        try:
            start.wait(timeout=10)
            own = f"OWN{k}"
            slots = None
            for i in range(1, per_thread + 1):
                value = float(k * 10_000 + i)
                cache.update("SHARED", value)
                if i % 2:
                    cache.update(own, float(i))
                else:
                    slots = slots if slots is not None else cache.slots([own, f"BULK{k}"])
                    cache.write_slots(slots, np.array([float(i), value]))
                cache.get_all()
                cache.history("SHARED", limit=5)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors
    assert not any(worker.is_alive() for worker in workers)
    shared = [price for _, price in cache.history("SHARED")]
    assert len(shared) == threads * per_thread
    assert set(shared) == {float(k * 10_000 + i) for k in range(threads) for i in range(1, per_thread + 1)}
    for k in range(threads):
        assert cache.get(f"OWN{k}").price == float(per_thread)
        assert len(cache.history(f"OWN{k}")) == per_thread
        assert len(cache.history(f"BULK{k}")) == per_thread // 2
