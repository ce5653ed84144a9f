"""``run_soon``: a coroutine run to its end from sync code, scheduled from inside an event loop."""

import asyncio
import threading

from market.background import run_soon
from tests.support import eventually


async def double(value: int, into: list | None = None) -> int:
    await asyncio.sleep(0)
    if into is not None:
        into.append(value * 2)
    return value * 2


def test_from_sync_code_it_runs_to_the_end_and_gives_the_result():
    results = []
    thread = threading.Thread(target=lambda: results.append(run_soon(double, 21)))
    thread.start()
    thread.join(timeout=10)
    assert results == [42]


async def test_inside_an_event_loop_it_is_scheduled_and_runs_although_nobody_keeps_the_task():
    done = []
    assert run_soon(double, 4, done) is None
    assert done == []  # not run yet: the caller goes on at once
    await eventually(lambda: done == [8], message="the scheduled coroutine")
