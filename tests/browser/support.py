"""What the browser tests share: the server they drive, signing up, logging in, screenshots."""

import json
import re
import signal
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import artifacts_dir, clean_env, manage, migrate_database, require, start_daphne, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SUPERUSER = {"username": "admin", "password": "admin-Pass-4-tests", "email": "admin@example.com"}
PASSWORD = "Tr4ding-is-fun!"
SPARKLINE_POINTS_AT_START = 8


class LiveServer:
    """One daphne serving the project on a fixed port; it can be killed and started again."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "browser-daphne"):
        self.env = env
        self.log_dir = log_dir
        self.name = name
        self.process = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process, self.port = start_daphne(self.env, self.log_dir, port=self.port, name=self.name)
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


def live_server_with(tmp_path_factory, name: str, superuser: bool = False, **settings: str):
    """A started daphne (``LiveServer``, its log ``<name>-<port>.log`` in the artefacts) on a migrated
    SQLite file of its own, with ``settings`` in its environment and, if asked, tests' superuser."""
    require(CHROMIUM.exists(), "Chromium (Debian package chromium, /usr/bin/chromium)")
    database = tmp_path_factory.mktemp(name) / "db.sqlite3"
    if superuser:
        settings.update(
            DJANGO_SUPERUSER_USERNAME=SUPERUSER["username"],
            DJANGO_SUPERUSER_PASSWORD=SUPERUSER["password"],
            DJANGO_SUPERUSER_EMAIL=SUPERUSER["email"],
        )
    env = clean_env(DATABASE_URL=f"sqlite:///{database}", **settings)
    migrate_database(env)
    if superuser:
        manage(env, "createsuperuser", "--noinput")
    server = LiveServer(env, artifacts_dir(), name=name)
    server.start()
    return server


def sign_up(page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password1"]', PASSWORD)
    page.fill('input[name="password2"]', PASSWORD)
    page.locator('main form [type="submit"]').click()
    page.wait_for_url(lambda url: "/accounts/" not in url)


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.locator('main form [type="submit"]').click()
    page.wait_for_url(lambda url: "/accounts/" not in url)


def screenshot(page, name: str) -> Path:
    path = artifacts_dir() / name
    page.screenshot(path=str(path), full_page=True)
    return path
