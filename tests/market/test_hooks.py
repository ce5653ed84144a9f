"""The hook settings: imported at start-up, so a typo is a named error instead of a silent fallback."""

import subprocess

from market import hooks
from market.checks import check_hooks
from tests.support import PROJECT_DIR, clean_env, python_command


def test_a_hook_that_cannot_be_imported_is_a_named_error(settings):
    settings.MARKET_TICKER_DEMAND = "portfolio.selectors.ticker_demnad"
    (error,) = check_hooks()
    assert error.id == "market.E002"
    assert "MARKET_TICKER_DEMAND" in error.msg and "ticker_demnad" in error.msg


def test_every_kind_of_hook_is_checked(settings):
    settings.MARKET_STREAM_TICKERS = "no.such.module.hook"
    settings.MARKET_PERIODIC_JOBS = [("portfolio.services.record_value_snapshots", 0)]
    settings.MARKET_TICK_LISTENERS = ["portfolio.models.STARTING_CASH"]  # importable, not callable
    assert [error.msg.split(":")[0] for error in check_hooks()] == [
        "MARKET_STREAM_TICKERS",
        "MARKET_PERIODIC_JOBS",
        "MARKET_TICK_LISTENERS",
    ]


def test_the_projects_own_hooks_import(settings):
    assert check_hooks() == []
    assert hooks.ticker_demand().__name__ == "ticker_demand"


def test_a_changed_hook_setting_is_read_again(settings):
    first = hooks.ticker_demand()
    settings.MARKET_TICKER_DEMAND = "tests.market.test_hooks.no_demand"
    assert hooks.ticker_demand() is no_demand
    assert first is not no_demand


def no_demand(tickers=None):
    return {}


def test_daphne_refuses_to_start_with_a_broken_hook_in_one_line(tmp_path):
    settings_module = tmp_path / "broken_hook_settings.py"
    settings_module.write_text('from finally_site.settings import *\nMARKET_TICKER_DEMAND = "no.such.hook"\n')
    env = clean_env(DJANGO_SETTINGS_MODULE="broken_hook_settings", PYTHONPATH=f"{tmp_path}:{PROJECT_DIR}")
    result = subprocess.run(
        python_command("-m", "daphne", "-p", "0", "finally_site.asgi:application"),
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "no.such.hook" in line]
    assert lines == [
        "finally: configuration error: MARKET_TICKER_DEMAND: cannot import 'no.such.hook' "
        "(No module named 'no')"
    ]
    assert "Traceback" not in result.stderr
