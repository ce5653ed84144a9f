import os
import sys
import types

import pytest

from market.feed import clear_feed, reset_feed
from tests.portfolio_support import make_user


@pytest.fixture(autouse=True)
def fresh_feed():
    """Every test starts with a fresh, unstarted feed and an empty price cache in this process."""
    feed = reset_feed()
    yield feed
    clear_feed()


@pytest.fixture
def user():
    """A new user, with the portfolio and default watchlist every user gets (needs the database)."""
    return make_user()


@pytest.fixture
def api(client, user):
    """Django's test client, logged in as ``user``."""
    client.force_login(user)
    return client


@pytest.fixture
def notified(monkeypatch):
    """Record, as ``(user_id, payload)``, what the portfolio app hands to the stream's ``notify_user``."""
    calls = []
    fake = types.ModuleType("market.stream.events")
    fake.notify_user = lambda user_id, payload: calls.append((user_id, payload))
    monkeypatch.setitem(sys.modules, "market.stream.events", fake)
    return calls


@pytest.fixture(autouse=True)
def _postgres_when_required(request):
    """Under scripts/test's PostgreSQL pass, a 'postgres' test must really run on PostgreSQL."""
    if os.environ.get("FINALLY_REQUIRE_POSTGRES") and request.node.get_closest_marker("postgres"):
        from django.db import connection

        assert connection.vendor == "postgresql", "DATABASE_URL does not point at PostgreSQL"
