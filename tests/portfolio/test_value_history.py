"""GET /api/portfolio/history/?range=R: the portfolio's value over time, downsampled in the database."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portfolio import selectors
from portfolio.models import PortfolioSnapshot

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def snapshot(user, at, value: str) -> None:
    PortfolioSnapshot.objects.create(
        portfolio=user.portfolio, recorded_at=at, total_value=Decimal(value), cash=Decimal("0.00")
    )


def test_each_bucket_shows_its_last_snapshot_then_the_value_now(user):
    now = timezone.now().replace(second=0, microsecond=0)
    bucket = now - timedelta(minutes=now.minute % 5 + 10)  # a 5-minute bucket's start, 10 minutes ago
    snapshot(user, bucket + timedelta(seconds=10), "10000.00")
    snapshot(user, bucket + timedelta(seconds=200), "10050.00")
    snapshot(user, bucket + timedelta(seconds=290), "10025.50")  # the bucket's last
    snapshot(user, bucket + timedelta(seconds=310), "9990.00")  # the next bucket
    series = selectors.value_series(user, "1D", now=now)
    assert series["interval"] == "5m"
    assert series["points"][:2] == [
        {"t": int(bucket.timestamp()), "value": Decimal("10025.50")},
        {"t": int(bucket.timestamp()) + 300, "value": Decimal("9990.00")},
    ]
    assert series["points"][-1] == {"t": int(now.timestamp()), "value": Decimal("10000.00")}


def test_the_times_are_strictly_ascending_even_when_now_starts_a_bucket(user):
    now = timezone.now().replace(second=0, microsecond=0)
    now = now - timedelta(minutes=now.minute % 5)  # a bucket's first second
    snapshot(user, now, "10010.00")
    points = selectors.value_series(user, "1D", now=now)["points"]
    assert [p["t"] for p in points] == [int(now.timestamp())]


def test_the_series_is_one_query_however_many_snapshots(user):
    now = timezone.now()
    PortfolioSnapshot.objects.bulk_create(
        PortfolioSnapshot(
            portfolio=user.portfolio, recorded_at=now - timedelta(seconds=30 * i), total_value=10000, cash=0
        )
        for i in range(2000)
    )
    selectors.portfolio_for(user)
    with CaptureQueriesContext(connection) as captured:
        points = selectors.VALUE_RANGES and selectors.value_series(user, "5D", now=now)["points"]
    assert len(points) <= 241
    series_queries = [q for q in captured if "portfolio_portfoliosnapshot" in q["sql"]]
    assert len(series_queries) == 1


@pytest.mark.parametrize(
    ("name", "interval"), [("1D", "5m"), ("5D", "30m"), ("1M", "2h"), ("6M", "1d"), ("1Y", "1d")]
)
def test_each_range_has_its_interval_and_shows_no_more_than_the_snapshots_kept(
    user, settings, name, interval
):
    settings.PORTFOLIO_SNAPSHOT_RETENTION_DAYS = 30
    now = timezone.now()
    for days in (40, 20, 1):
        snapshot(user, now - timedelta(days=days), "10000.00")
    series = selectors.value_series(user, name, now=now)
    assert series["interval"] == interval
    assert all(point["t"] >= (now - timedelta(days=30)).timestamp() - 86400 for point in series["points"])


def test_the_endpoint_answers_decimal_strings(api, user):
    snapshot(user, timezone.now() - timedelta(minutes=3), "10012.34")
    body = api.get("/api/portfolio/history/", {"range": "1D"}).json()
    assert body["range"] == "1D" and body["interval"] == "5m"
    assert body["points"][0]["value"] == "10012.34"
    assert body["points"][-1]["value"] == "10000.00"


def test_the_endpoint_refuses_a_bad_range(api):
    assert api.get("/api/portfolio/history/", {"range": "2W"}).status_code == 400


def test_the_endpoint_needs_a_login(client):
    assert client.get("/api/portfolio/history/").status_code == 401
