"""``manage.py runfeed``: run the market source once for the deployment and publish every tick.

Server processes started with ``MARKET_FEED=external`` (and the same ``REDIS_URL``) follow it. On a
terminal it shows a live table of prices; otherwise it logs one line every ``--log-every`` ticks.
Ctrl-C or SIGTERM stops it cleanly (exit code 0, leader lock released).
"""

import asyncio
import contextlib
import logging
import re
import shutil
import signal
import textwrap
from collections import deque

from django.core.management.base import BaseCommand, CommandError

from market.checks import redis_problem
from market.leader import DEFAULT_TTL
from market.runner import FeedRunner

REDRAW_INTERVAL = 0.25  # a live table redrawn at most four times a second
LOG_POLL_INTERVAL = 0.2


def render_table(updates, limit: int, color: bool = True) -> list[str]:
    """Rows of a price table for ``updates`` (PriceUpdates), at most ``limit`` of them plus a 'more' line."""
    green, red, reset = ("\x1b[32m", "\x1b[31m", "\x1b[0m") if color else ("", "", "")
    rows = [f"{'TICKER':<10} {'PRICE':>12} {'CHANGE':>10} {'CHANGE %':>9}"]
    ordered = sorted(updates, key=lambda update: update.ticker)
    shown = ordered if len(ordered) <= limit else ordered[: max(0, limit - 1)]
    for update in shown:
        percent = 100 * update.change / update.previous_price if update.previous_price else 0.0
        arrow, tint = {"up": ("▲", green), "down": ("▼", red)}.get(update.direction, (" ", ""))
        end = reset if tint else ""
        rows.append(
            f"{update.ticker:<10} {update.price:>12,.2f} {tint}{update.change:>+10.2f}{end} "
            f"{percent:>+8.2f}% {tint}{arrow}{end}"
        )
    if len(shown) < len(ordered):
        rows.append(f"... and {len(ordered) - len(shown)} more")
    return rows


class LogDisplay:
    """Plain lines for a log file or a pipe: every status line, and one line per ``every`` ticks."""

    def __init__(self, out, every: int):
        self.out = out
        self.every = every

    def say(self, line: str) -> None:
        self.out.write(f"runfeed: {line}")
        self.out.flush()

    async def run(self, runner: FeedRunner) -> None:
        next_line = self.every
        while True:
            await asyncio.sleep(LOG_POLL_INTERVAL)
            publisher, feed = runner.publisher, runner.feed
            if publisher is None or feed is None:
                continue
            if publisher.published < next_line - self.every:
                next_line = self.every  # a new term as leader counts afresh
            if publisher.published >= next_line:
                next_line = publisher.published + self.every
                self.say(
                    f"{publisher.published} ticks published (seq {publisher.seq}): {feed.source_name}, "
                    f"{len(feed.cache)} tickers priced, {publisher.last_size} changed in the last tick"
                )

    def close(self) -> None:
        pass


_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _fit(line: str, width: int) -> str:
    """``line`` cut to the terminal's width, so it never wraps and breaks the redraw's line count."""
    plain = _ESCAPE.sub("", line)
    return line if len(plain) <= width else plain[:width]


class TerminalDisplay:
    """A live price table redrawn in place, with the latest status lines above it."""

    def __init__(self, out):
        self.out = out
        self.pinned: list[str] = []  # warnings stay in view; other notes scroll away
        self.notes: deque[str] = deque(maxlen=4)
        self.runner: FeedRunner | None = None
        self._drawn = 0

    def say(self, line: str) -> None:
        """A line from the runner: its warnings stay in view."""
        (self.pinned if line.startswith("warning:") else self.notes).append(line)
        self.draw()

    def note(self, line: str) -> None:
        """A line that may scroll away (log records)."""
        self.notes.append(line)
        self.draw()

    async def run(self, runner: FeedRunner) -> None:
        self.runner = runner
        while True:
            self.draw()
            await asyncio.sleep(REDRAW_INTERVAL)

    def frame(self) -> list[str]:
        width, height = shutil.get_terminal_size((100, 30))
        notes = [*self.pinned, *self.notes]
        lines = [line for note in notes for line in textwrap.wrap(f"runfeed: {note}", width)]
        runner = self.runner
        feed = runner.feed if runner is not None else None
        publisher = runner.publisher if runner is not None else None
        if runner is not None and runner.state == "leading" and feed is not None and publisher is not None:
            lines.append(
                f"leading · {feed.source_name} every {feed.interval:g}s · {len(feed.cache)} tickers · "
                f"{publisher.published} ticks published · Ctrl-C stops"
            )
            lines += render_table(feed.cache.get_all().values(), limit=max(3, height - len(lines) - 3))
        elif runner is not None and runner.state in ("starting", "waiting"):
            lines.append(f"{runner.state} · Ctrl-C stops")
        return [_fit(line, width) for line in lines]

    def draw(self) -> None:
        frame = self.frame()
        parts = [f"\x1b[{self._drawn}F"] if self._drawn else []
        parts += [f"{line}\x1b[K\n" for line in frame]
        parts.append("\x1b[J")
        self.out.write("".join(parts), ending="")
        self.out.flush()
        self._drawn = len(frame)

    def close(self) -> None:
        self.draw()


class _DisplayLogHandler(logging.Handler):
    """On a terminal, log records become status lines instead of breaking the table."""

    def __init__(self, display: TerminalDisplay):
        super().__init__(logging.INFO)
        self.display = display

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.display.note(f"{record.levelname.lower()}: {record.getMessage()}")


@contextlib.contextmanager
def _logging_into(display: TerminalDisplay):
    handler = _DisplayLogHandler(display)
    saved = {}
    for name in ("market", "portfolio"):
        logger = logging.getLogger(name)
        saved[name] = logger.handlers[:]
        logger.handlers = [handler]
    try:
        yield
    finally:
        for name, handlers in saved.items():
            logging.getLogger(name).handlers = handlers


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
            with _logging_into(display):
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
