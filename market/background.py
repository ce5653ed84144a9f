"""Running a coroutine from code that may or may not be inside an event loop.

The channel-layer senders (user events, control messages, order changes) are called from sync code in
any thread (a view, a ``transaction.on_commit`` callback, ``manage.py shell``) and from the event loop
alike. ``run_soon`` runs the coroutine to its end in the first case and schedules it in the second,
keeping the task referenced until it ends (the loop itself keeps only a weak reference).
"""

import asyncio
from collections.abc import Awaitable, Callable

from asgiref.sync import async_to_sync

_tasks: set[asyncio.Task] = set()


def run_soon(function: Callable[..., Awaitable], *args):
    """``function(*args)``'s result when called outside an event loop; None once scheduled inside one."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return async_to_sync(function)(*args)
    task = loop.create_task(function(*args))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return None
