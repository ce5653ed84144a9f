"""market.massive_budget: the poll keeps its cadence, backfills take what is left, 429 pauses them."""

import threading

from market.massive_budget import RequestBudget


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_with_a_poll_every_15_s_one_backfill_request_a_minute_is_left_of_five():
    clock = Clock()
    budget = RequestBudget(limit=5, window=60, clock=clock)
    budget.reserve_for_polls(15.0)
    assert budget.spare == 1
    assert budget.acquire_spare(timeout=0)
    assert not budget.acquire_spare(timeout=0)
    clock.now += 59.9
    assert not budget.acquire_spare(timeout=0)
    clock.now += 0.2
    assert budget.acquire_spare(timeout=0)


def test_a_poll_every_12_s_leaves_nothing_to_backfills():
    budget = RequestBudget(limit=5, window=60, clock=Clock())
    budget.reserve_for_polls(12.0)
    assert budget.spare == 0
    assert not budget.acquire_spare(timeout=0)


def test_a_poll_needing_two_requests_reserves_twice_its_polls():
    budget = RequestBudget(limit=10, window=60, clock=Clock())
    budget.reserve_for_polls(15.0, requests_per_poll=2)
    assert budget.spare == 2


def test_a_backfill_never_makes_a_window_hold_more_than_the_limit():
    clock = Clock()
    budget = RequestBudget(limit=5, window=60, clock=clock)
    budget.reserve_for_polls(30.0)  # 2 polls a minute: 3 left
    for _ in range(4):
        budget.record()  # a burst of polls (retries after a failure, say)
    assert budget.acquire_spare(timeout=0)
    assert not budget.acquire_spare(timeout=0)  # 5 in the window already


def test_a_429_pauses_backfills_for_its_retry_after():
    clock = Clock()
    budget = RequestBudget(limit=5, window=60, clock=clock)
    budget.reserve_for_polls(60.0)
    budget.block_for(30)
    assert not budget.acquire_spare(timeout=0)
    clock.now += 30
    assert budget.acquire_spare(timeout=0)


def test_without_a_limit_nobody_waits():
    budget = RequestBudget(limit=None, clock=Clock())
    budget.reserve_for_polls(1.0)
    assert all(budget.acquire_spare(timeout=0) for _ in range(100))


def test_a_waiting_backfill_gives_up_when_told_to_stop():
    budget = RequestBudget(limit=5, window=60)
    budget.reserve_for_polls(12.0)
    stop = threading.Event()
    stop.set()
    assert budget.acquire_spare(stop=stop) is False
