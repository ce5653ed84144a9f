"""Configuration from the environment: market.config's readers, the system check, and start-up refusals.

Bad configuration must stop start-up with one clear line naming the variable, never a traceback,
both for ``manage.py check`` (and every command that runs checks) and for plain daphne, which runs none.
"""

import math
import subprocess

import pytest

from finally_site.checks import check_environment, check_id
from market import config
from tests.support import PROJECT_DIR, clean_env, free_port, python_command

VARIABLES = (
    "MASSIVE_API_KEY",
    "MASSIVE_BASE_URL",
    "MASSIVE_POLL_INTERVAL",
    "SIMULATOR_INTERVAL",
    "SIMULATOR_SEED",
    "REDIS_URL",
    "MARKET_FEED",
    "MARKET_MINUTE_BARS_DAYS",
    "MARKET_DAILY_BARS_DAYS",
)


@pytest.fixture
def env(monkeypatch):
    """A clean slate of the market variables, undone before conftest's teardown builds a fresh Feed."""
    with monkeypatch.context() as patch:
        for name in VARIABLES:
            patch.delenv(name, raising=False)
        yield patch


# The readers


def test_defaults_without_any_variable(env):
    assert config.massive_api_key() == ""
    assert config.massive_base_url() is None
    assert config.massive_poll_interval() == 15.0
    assert config.simulator_interval() == 0.5
    assert config.simulator_seed() is None
    assert config.redis_url() is None
    assert config.market_feed() == "embedded"
    assert (config.source_name(), config.source_interval()) == ("simulator", 0.5)
    assert (config.minute_bars_days(), config.daily_bars_days()) == (7, 3650)
    assert config.validate() == []


def test_values_are_read_at_call_time(env):
    env.setenv("SIMULATOR_INTERVAL", " 0.25 ")
    assert config.simulator_interval() == 0.25
    env.setenv("SIMULATOR_INTERVAL", "2")
    assert config.simulator_interval() == 2.0


def test_an_api_key_makes_massive_the_source_with_its_poll_interval(env):
    env.setenv("MASSIVE_API_KEY", "key")
    env.setenv("MASSIVE_POLL_INTERVAL", "30")
    assert (config.source_name(), config.source_interval()) == ("massive", 30.0)


def test_a_blank_api_key_means_the_simulator(env):
    env.setenv("MASSIVE_API_KEY", "   ")
    assert config.source_name() == "simulator"


@pytest.mark.parametrize("reader", ["simulator_interval", "massive_poll_interval"])
@pytest.mark.parametrize("raw", ["abc", "0", "-1", "inf", "nan", "1e9", "0.5s"])
def test_an_interval_must_be_a_sensible_positive_number(env, reader, raw):
    variable = reader.upper()
    env.setenv(variable, raw)
    with pytest.raises(config.ConfigError, match=variable):
        getattr(config, reader)()


def test_the_seed_is_a_non_negative_integer(env):
    env.setenv("SIMULATOR_SEED", "42")
    assert config.simulator_seed() == 42
    for raw in ("-1", "1.5", "seven"):
        env.setenv("SIMULATOR_SEED", raw)
        with pytest.raises(config.ConfigError, match="SIMULATOR_SEED"):
            config.simulator_seed()


def test_market_feed_is_embedded_or_external_in_any_case(env):
    env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    env.setenv("MARKET_FEED", "External")
    assert config.market_feed() == "external"
    env.setenv("MARKET_FEED", "sideways")
    with pytest.raises(config.ConfigError, match="MARKET_FEED"):
        config.market_feed()


def test_an_external_feed_needs_redis(env):
    env.setenv("MARKET_FEED", "external")
    with pytest.raises(config.ConfigError, match="MARKET_FEED=external needs REDIS_URL"):
        config.market_feed()


def test_redis_url_must_be_a_redis_url(env):
    env.setenv("REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(config.ConfigError, match="REDIS_URL"):
        config.redis_url()
    env.setenv("REDIS_URL", "unix:///run/redis.sock")
    assert config.redis_url() == "unix:///run/redis.sock"


def test_massive_base_url_must_be_http_and_loses_its_trailing_slash(env):
    env.setenv("MASSIVE_BASE_URL", "http://127.0.0.1:8765/")
    assert config.massive_base_url() == "http://127.0.0.1:8765"
    env.setenv("MASSIVE_BASE_URL", "ftp://example.com")
    with pytest.raises(config.ConfigError, match="MASSIVE_BASE_URL"):
        config.massive_base_url()


@pytest.mark.parametrize("variable", ["MARKET_MINUTE_BARS_DAYS", "MARKET_DAILY_BARS_DAYS"])
def test_bar_retention_is_a_whole_number_of_days(env, variable):
    reader = config.minute_bars_days if variable == "MARKET_MINUTE_BARS_DAYS" else config.daily_bars_days
    env.setenv(variable, " 30 ")
    assert reader() == 30
    for raw in ("abc", "0", "-3", "1.5", "99999999"):
        env.setenv(variable, raw)
        with pytest.raises(config.ConfigError, match=f"^{variable} must be"):
            reader()


@pytest.mark.parametrize(("interval", "stale"), [(0.5, 5.0), (1.0, 5.0), (15.0, 45.0)])
def test_a_source_is_stale_after_three_intervals_and_never_before_5_seconds(interval, stale):
    assert math.isclose(config.stale_after(interval), stale)


def test_validate_reports_every_problem_on_one_line_each(env):
    env.setenv("SIMULATOR_INTERVAL", "x")
    env.setenv("SIMULATOR_SEED", "y")
    env.setenv("MARKET_FEED", "external")
    problems = config.validate()
    assert len(problems) == 3
    assert all("\n" not in problem for problem in problems)
    assert [p.split()[0] for p in problems] == [
        "SIMULATOR_INTERVAL",
        "SIMULATOR_SEED",
        "MARKET_FEED=external",
    ]


# The system check


def test_the_system_check_reports_each_problem_as_a_named_error(settings):
    settings.CONFIG_PROBLEMS = ["SIMULATOR_INTERVAL must be a number of seconds, got 'x'", "DJANGO_DEBUG bad"]
    errors = check_environment()
    # Each variable has its own id, whatever else is wrong: E003 always means SIMULATOR_INTERVAL.
    assert [(e.id, e.msg) for e in errors] == [
        ("finally.E003", "SIMULATOR_INTERVAL must be a number of seconds, got 'x'"),
        ("finally.E007", "DJANGO_DEBUG bad"),
    ]
    assert all(e.is_serious() for e in errors)


def test_bad_bar_retention_is_reported_under_the_ids_reserved_for_it(env):
    env.setenv("MARKET_MINUTE_BARS_DAYS", "x")
    env.setenv("MARKET_DAILY_BARS_DAYS", "0")
    ids = {check_id(problem) for problem in config.validate()}
    assert ids == {"finally.E015", "finally.E016"}


def test_the_system_check_is_silent_when_all_is_well(settings):
    settings.CONFIG_PROBLEMS = []
    assert check_environment() == []


# Start-up in a child process

BAD_SETTINGS = [
    ("SIMULATOR_INTERVAL", "fast"),
    ("MASSIVE_POLL_INTERVAL", "-5"),
    ("SIMULATOR_SEED", "lucky"),
    ("MARKET_FEED", "sideways"),
    ("MARKET_FEED", "external"),  # without REDIS_URL
    ("DJANGO_DEBUG", "perhaps"),
    ("DATABASE_URL", "nosuchdb://somewhere/db"),
    ("REDIS_URL", "http://127.0.0.1:6379"),
    ("MASSIVE_BASE_URL", "massive.example"),
    ("MARKET_MINUTE_BARS_DAYS", "a week"),
    ("MARKET_DAILY_BARS_DAYS", "0"),
]
BAD_IDS = [f"{variable}={value}" for variable, value in BAD_SETTINGS]


def unreachable_redis() -> dict[str, str]:
    return {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}


def lines_naming(output: str, variable: str) -> list[str]:
    return [line for line in output.splitlines() if variable in line and "HINT" not in line]


def run_child(args: list[str], overrides: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        args,
        env=clean_env(**overrides),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_manage_py_check_passes_with_the_defaults():
    result = run_child(python_command("manage.py", "check"), {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS, ids=BAD_IDS)
def test_manage_py_check_names_a_bad_variable_on_one_line_without_a_traceback(variable, value):
    result = run_child(python_command("manage.py", "check"), {variable: value})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert len(lines_naming(output, variable)) == 1, output


def test_manage_py_check_deploy_names_an_unreachable_redis_on_one_line_without_a_traceback():
    result = run_child(python_command("manage.py", "check", "--deploy"), unreachable_redis())
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert len(lines_naming(output, "REDIS_URL")) == 1, output


def daphne(overrides: dict[str, str]) -> subprocess.CompletedProcess:
    port = free_port()
    args = python_command("-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "finally_site.asgi:application")
    return run_child(args, overrides, timeout=30)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SIMULATOR_INTERVAL", "fast"),
        ("MARKET_FEED", "external"),
        ("DJANGO_DEBUG", "perhaps"),
        ("DATABASE_URL", "nosuchdb://somewhere/db"),
    ],
    ids=lambda v: v,
)
def test_daphne_refuses_to_start_with_one_line_naming_a_bad_variable(variable, value):
    result = daphne({variable: value})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    [line] = lines_naming(output, variable)
    assert line.startswith("finally: configuration error:")


def test_daphne_refuses_to_start_with_an_unreachable_redis():
    result = daphne(unreachable_redis())
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    [line] = lines_naming(output, "REDIS_URL")
    assert "unreachable" in line
