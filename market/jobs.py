"""Periodic jobs (``settings.MARKET_PERIODIC_JOBS``), run by the process that owns the source.

That is the embedded server, or ``runfeed`` under ``MARKET_FEED=external``, so a job such as recording
portfolio values runs once per deployment. Each runs in a worker thread, forever, every N seconds; a
failing run is logged and the next one goes ahead.
"""

import asyncio
import logging

from asgiref.sync import sync_to_async

from . import hooks

logger = logging.getLogger(__name__)


def start_periodic_jobs() -> list[asyncio.Task]:
    """One task per job, in the running loop."""
    return [
        asyncio.create_task(_run_periodically(name, job, seconds), name=f"periodic:{name}")
        for name, job, seconds in hooks.periodic_jobs()
    ]


async def _run_periodically(name: str, job, seconds: float) -> None:
    job = sync_to_async(job, thread_sensitive=False)
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            logger.exception("periodic job %s failed; next run in %ss", name, seconds)
