"""``manage.py runfeed``: run the market source once for the deployment and publish every tick.

Server processes started with ``MARKET_FEED=external`` (and the same ``REDIS_URL``) follow it. On a
terminal it shows a live table of prices; otherwise it logs one line every ``--log-every`` ticks.
Ctrl-C or SIGTERM stops it cleanly (exit code 0, leader lock released).
"""

import asyncio
import contextlib
import signal

from django.core.management.base import BaseCommand, CommandError

from market.checks import redis_problem
from market.external.console import LogDisplay, TerminalDisplay, logging_into
from market.external.leader import DEFAULT_TTL
from market.external.runner import FeedRunner


class Command(BaseCommand):
    help = (
        "Run the market data source (simulator, or Massive with MASSIVE_API_KEY) in the foreground and "
        "publish every tick over the channel layer to all server processes started with "
        "MARKET_FEED=external. Tracks the default tickers, every watchlist entry and every open position."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--log-every", type=int, default=20, metavar="N",
            help="when output is not a terminal, log one line every N published ticks (default 20)",
        )  # fmt: skip
        parser.add_argument(
            "--reconcile-interval", type=float, default=None, metavar="SECONDS",
            help="seconds between full re-reads of the ticker set from the database "
            "(default: settings.MARKET_RECONCILE_INTERVAL or 30)",
        )  # fmt: skip
        parser.add_argument(
            "--lock-ttl", type=float, default=DEFAULT_TTL, metavar="SECONDS",
            help=f"lifetime of the leader lock; a standby takes over this long after a crash "
            f"(default {DEFAULT_TTL:g})",
        )  # fmt: skip
        parser.add_argument("--no-table", action="store_true", help="log lines even on a terminal")

    def handle(self, *args, **options):
        if options["log_every"] < 1:
            raise CommandError("--log-every must be at least 1")
        for name in ("reconcile_interval", "lock_ttl"):
            value = options[name]
            if value is not None and not value > 0:
                raise CommandError(f"--{name.replace('_', '-')} must be a positive number of seconds")
        if problem := redis_problem():
            # System checks no longer ping Redis (migrate must work without it): runfeed needs it.
            raise CommandError(problem)
        if self.stdout.isatty() and not options["no_table"]:
            display = TerminalDisplay(self.stdout)
            with logging_into(display):
                asyncio.run(self._run(display, options))
        else:
            display = LogDisplay(self.stdout, options["log_every"])
            asyncio.run(self._run(display, options))
        self.stdout.write("runfeed: stopped")

    async def _run(self, display, options) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        runner = FeedRunner(
            say=display.say, lock_ttl=options["lock_ttl"], reconcile_interval=options["reconcile_interval"]
        )
        showing = asyncio.create_task(display.run(runner), name="runfeed-display")
        try:
            await runner.run(stop)
        finally:
            showing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await showing
            display.close()
