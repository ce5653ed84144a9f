"""An unreachable Redis stops start-up with one clear line naming REDIS_URL, never a traceback."""

import subprocess

import pytest

from market.checks import check_redis_reachable, redis_problem
from tests.support import PROJECT_DIR, artifacts_dir, clean_env, free_port, python_command, start_redis


def unreachable_url(password: str = "") -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"


def test_no_redis_url_means_nothing_to_check(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert redis_problem() is None
    assert check_redis_reachable() == []


def test_an_unreachable_redis_is_one_error_naming_redis_url(monkeypatch):
    monkeypatch.setenv("REDIS_URL", unreachable_url())
    errors = check_redis_reachable()
    assert [error.id for error in errors] == ["market.E001"]
    assert errors[0].msg.startswith("REDIS_URL redis://127.0.0.1:")
    assert "unreachable" in errors[0].msg
    assert "\n" not in errors[0].msg


def test_the_error_does_not_show_the_redis_password(monkeypatch):
    monkeypatch.setenv("REDIS_URL", unreachable_url(password="s3cret"))
    problem = redis_problem()
    assert "s3cret" not in problem
    assert ":***@127.0.0.1" in problem


@pytest.mark.redis
def test_a_reachable_redis_passes(monkeypatch):
    proc, port = start_redis(artifacts_dir())
    try:
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
        assert check_redis_reachable() == []
    finally:
        proc.stop()


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        python_command(*args), env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
    )


def test_manage_py_check_deploy_reports_an_unreachable_redis_without_a_traceback():
    # Plain ``check`` (like migrate) works without Redis: only --deploy and the servers ping it.
    env = clean_env(REDIS_URL=unreachable_url(), MARKET_FEED="external")
    result = run("manage.py", "check", "--deploy", env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "(market.E001) REDIS_URL" in output
    assert "Traceback" not in output


def test_daphne_refuses_to_start_with_an_unreachable_redis():
    result = run(
        "-m", "daphne", "-b", "127.0.0.1", "-p", str(free_port()), "finally_site.asgi:application",
        env=clean_env(REDIS_URL=unreachable_url(), MARKET_FEED="external"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "configuration error: REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr
