"""/healthz: the feed's freshness as JSON, 503 when stale."""

import time

import pytest

from market.feed import get_feed
from market.seed_prices import DEFAULT_TICKERS


@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_healthz_is_ok_while_the_source_is_fresh(client, path):
    get_feed().cache.update_many(list(DEFAULT_TICKERS), [100.0] * len(DEFAULT_TICKERS))
    response = client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body.keys() == {"status", "source", "tickers", "last_tick_age"}
    assert (body["status"], body["source"], body["tickers"]) == ("ok", "simulator", 10)
    assert 0 <= body["last_tick_age"] < 5
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_stale_and_503_after_three_intervals_and_at_least_five_seconds(client):
    cache = get_feed().cache
    cache.update("AAPL", 190.0)
    cache.mark_success(time.time() - 4.0)  # three 0.5 s intervals, but under 5 s: still fresh
    assert client.get("/healthz").status_code == 200
    cache.mark_success(time.time() - 6.0)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "stale"
    assert response.json()["last_tick_age"] >= 6


def test_healthz_before_any_tick_is_stale(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "stale", "source": "simulator", "tickers": 0, "last_tick_age": None}


def test_healthz_reports_massive_when_an_api_key_is_set(client, monkeypatch):
    from market.feed import reset_feed

    monkeypatch.setenv("MASSIVE_API_KEY", "test-key")
    reset_feed()
    assert client.get("/healthz").json()["source"] == "massive"


def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


def test_a_stale_healthz_is_not_logged_as_a_server_error(client, caplog):
    with caplog.at_level("WARNING", logger="django.request"):
        assert client.get("/healthz").status_code == 503
        assert client.get("/no-such-page/").status_code == 404  # other answers are logged as before
    logged = [record.getMessage() for record in caplog.records if record.name == "django.request"]
    assert logged == ["Not Found: /no-such-page/"]
