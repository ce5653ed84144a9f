"""market.memory: a started feed takes the process's start-up objects out of the collector's walks."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

CHILD = """
import asyncio, gc, json
import django
django.setup()
from market import memory
from market.feed import Feed

before = gc.get_freeze_count()

async def main():
    feed = Feed()
    await feed.start(tickers=["AAPL"])
    after_start = gc.get_freeze_count()
    await feed.stop()
    again = memory.freeze_startup_objects()
    return after_start, again

after_start, again = asyncio.run(main())
print(json.dumps({"before": before, "after": after_start, "again": again, "frozen": memory.frozen()}))
"""


def test_the_first_feed_start_freezes_the_start_up_objects_once(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "finally_site.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    for name in ("REDIS_URL", "MARKET_FEED", "MASSIVE_API_KEY"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["before"] == 0
    assert seen["after"] > 10_000  # Django's, the feed's and the libraries' objects
    assert seen["again"] is False and seen["frozen"] is True
