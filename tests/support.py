"""Helpers shared by the tests: free ports, waiting for a condition, real server processes."""

import asyncio
import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(available: bool, what: str) -> None:
    """Skip on a developer machine without ``what``; fail loudly under CI, where it must be there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available on this machine")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def scratch_postgres_database(server_url: str, prefix: str):
    """The URL of a new database ``<prefix>_<random>`` on the PostgreSQL server of ``server_url``,
    dropped (connections and all) afterwards."""
    import psycopg

    parts = urlsplit(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for(
    condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02, message: str = "condition"
) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


async def eventually(
    condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.01, message: str = "condition"
) -> object:
    """``wait_for`` inside the event loop: poll ``condition`` (awaiting it if it returns an awaitable)
    until it is truthy and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def clean_env(**overrides: str | None) -> dict[str, str]:
    """The environment for a child process: no inherited project settings, then ``overrides``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "MARKET_FEED",
            "MASSIVE_API_KEY",
            "MASSIVE_BASE_URL",
            "MASSIVE_POLL_INTERVAL",
            "SIMULATOR_INTERVAL",
            "SIMULATOR_SEED",
            "MARKET_MINUTE_BARS_DAYS",
            "MARKET_DAILY_BARS_DAYS",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class Process:
    """A child process (daphne, runfeed, redis-server) with its output kept in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, cwd: Path = PROJECT_DIR):
        self.args = args
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        if self.alive:
            self.proc.send_signal(signum)

    def stop(self, sig: int | None = None, timeout: float = 10.0) -> int | None:
        """Send ``sig`` (default SIGTERM), wait up to ``timeout`` s, then SIGKILL the process group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            # (The method ``signal`` above shadows the module in the class body, hence no default there.)
            self.proc.send_signal(signal.SIGTERM if sig is None else sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


def python_command(*args: str) -> list[str]:
    return [sys.executable, *args]


def manage(env: dict[str, str], *args: str, timeout: float = 60.0) -> None:
    """Run ``manage.py <args>`` in a child process with ``env``; raise CalledProcessError if it fails."""
    subprocess.run(
        python_command("manage.py", *args),
        env=env,
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
        timeout=timeout,
    )


def migrate_database(env: dict[str, str]) -> None:
    """Run ``manage.py migrate`` for a child process's database."""
    manage(env, "migrate", "--noinput", timeout=120)


def start_daphne(
    env: dict[str, str], log_dir: Path, port: int | None = None, name: str = "daphne", timeout: float = 30.0
) -> tuple[Process, int]:
    """Start ``daphne finally_site.asgi:application`` on a free port and wait until it accepts connections."""
    port = port or free_port()
    proc = Process(
        python_command("-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "finally_site.asgi:application"),
        env,
        log_dir / f"{name}-{port}.log",
    ).start()
    try:
        wait_for(lambda: port_open(port) or not proc.alive, timeout, message=f"{name} on port {port}")
    except AssertionError:
        proc.stop()
        raise
    if not proc.alive:
        raise AssertionError(f"{name} exited at start:\n{proc.log()}")
    return proc, port


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def start_redis(log_dir: Path, port: int | None = None) -> tuple[Process, int]:
    """Start a private redis-server on a free local port (no persistence)."""
    binary = redis_server_binary()
    require(binary is not None, "redis-server (Debian package redis-server)")
    port = port or free_port()
    proc = Process(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        os.environ.copy(),
        log_dir / f"redis-{port}.log",
    ).start()
    wait_for(lambda: port_open(port), 10, message=f"redis-server on port {port}")
    return proc, port


def artifacts_dir() -> Path:
    path = Path(os.environ.get("FINALLY_ARTIFACTS", PROJECT_DIR / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
