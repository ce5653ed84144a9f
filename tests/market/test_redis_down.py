"""REDIS_URL naming a Redis that is down: the commands that never use the channel layer work (migrate,
createsuperuser, shell, check); the servers and runfeed refuse to start with one line naming REDIS_URL."""

import subprocess

import pytest

from tests.support import PROJECT_DIR, clean_env, free_port, python_command


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    database = tmp_path_factory.mktemp("redis-down") / "db.sqlite3"
    # A closed port: nothing listens there.
    return clean_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", DATABASE_URL=f"sqlite:///{database}")


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        python_command(*args), env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout
    )


def manage(env: dict[str, str], *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return run({**env, **extra_env}, "manage.py", *args)


def redis_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if "REDIS_URL" in line]


@pytest.fixture(scope="module")
def migrated(env):
    result = manage(env, "migrate", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    return env


def test_migrate_works_with_redis_down(migrated):
    result = manage(migrated, "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    assert "No migrations to apply" in result.stdout


def test_check_without_deploy_works_with_redis_down(env):
    result = manage(env, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_createsuperuser_works_with_redis_down(migrated):
    result = manage(
        migrated, "createsuperuser", "--noinput", "--username", "boss", "--email", "boss@example.com",
        DJANGO_SUPERUSER_PASSWORD="a-long-enough-password",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Superuser created successfully" in result.stdout


def test_shell_works_with_redis_down(migrated):
    code = "from django.contrib.auth.models import User; print('users:', User.objects.count())"
    result = manage(migrated, "shell", "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "users:" in result.stdout


def test_daphne_refuses_to_start_with_redis_down_in_one_line(migrated):
    daphne = ("-m", "daphne", "-p", str(free_port()), "finally_site.asgi:application")
    result = run(migrated, *daphne, timeout=30)
    assert result.returncode == 2
    [line] = redis_lines(result)
    assert line.startswith("finally: configuration error: REDIS_URL") and "unreachable" in line
    assert "Traceback" not in result.stderr


def test_runfeed_refuses_to_start_with_redis_down_in_one_line(migrated):
    result = manage(migrated, "runfeed", MARKET_FEED="external")
    assert result.returncode != 0
    [line] = redis_lines(result)
    assert line.startswith("CommandError: REDIS_URL") and "unreachable" in line
    assert "Traceback" not in result.stderr
