"""Fixtures of the browser tests: a real daphne with its own database, and Debian's Chromium.

The server is a subprocess with its own migrated SQLite file, never pytest-django's test database,
so these tests use no ``django_db`` marker (and the server fixture is not named ``live_server``,
which would make pytest-django set up its test database). Playwright's sync API marks its event
loop as running in this thread while it is alive: its fixtures are package-scoped, so that loop is
gone before the async tests of other packages run.
"""

import json
import re
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, SUPERUSER
from tests.support import (
    PROJECT_DIR,
    artifacts_dir,
    clean_env,
    migrate_database,
    python_command,
    require,
    start_daphne,
    wait_for,
)

SPARKLINE_POINTS_AT_START = 8


class LiveServer:
    """One daphne serving the project on a fixed port; it can be killed and started again."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.process = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process, self.port = start_daphne(self.env, self.log_dir, port=self.port, name="browser-daphne")
        wait_for(self.healthy, 20, interval=0.1, message="the browser tests' server to report healthy")

    def kill(self) -> None:
        """Kill the server abruptly, as a crash would."""
        self.process.stop(signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def healthy(self) -> bool:
        status, body = self.get("/healthz")
        return status == 200 and json.loads(body)["status"] == "ok"

    def has_sparklines(self) -> bool:
        """The dashboard's sparklines have a few points each (the feed has been ticking a while)."""
        _, html = self.get("/")
        counts = [len(points.split()) for points in re.findall(r'<polyline points="([^"]*)"', html)]
        return len(counts) >= 10 and min(counts[:10]) >= SPARKLINE_POINTS_AT_START


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    """A daphne with a migrated temp SQLite database, a 0.25 s simulator and a superuser."""
    require(CHROMIUM.exists(), "Chromium (Debian package chromium, /usr/bin/chromium)")
    database = tmp_path_factory.mktemp("browser") / "db.sqlite3"
    env = clean_env(
        DATABASE_URL=f"sqlite:///{database}",
        SIMULATOR_INTERVAL="0.25",
        SIMULATOR_SEED="2024",
        DJANGO_SUPERUSER_USERNAME=SUPERUSER["username"],
        DJANGO_SUPERUSER_PASSWORD=SUPERUSER["password"],
        DJANGO_SUPERUSER_EMAIL=SUPERUSER["email"],
    )
    migrate_database(env)
    subprocess.run(
        python_command("manage.py", "createsuperuser", "--noinput"),
        env=env,
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = LiveServer(env, artifacts_dir())
    server.start()
    wait_for(server.has_sparklines, 15, interval=0.25, message="a few ticks of history on the dashboard")
    yield server
    server.stop()


@pytest.fixture(scope="package")
def browser():
    require(CHROMIUM.exists(), "Chromium (Debian package chromium, /usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def context(browser, server):
    """A fresh browser profile (no cookies) pointed at the live server."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1360, "height": 860})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    """A page that fails the test on any uncaught script error."""
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"script errors on the page: {errors}"
