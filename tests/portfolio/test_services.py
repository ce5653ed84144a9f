"""Trading, user set-up and watchlist services: the rules of CONTRACT.md, exact to the cent."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from market.feed import get_feed
from market.seed_prices import DEFAULT_TICKERS
from portfolio import selectors, services
from portfolio.models import Portfolio, PortfolioSnapshot, Position, Trade, Watchlist, WatchlistEntry
from portfolio.services import ServiceError, TradeRefused
from tests.portfolio_support import make_user, set_price, set_prices

pytestmark = pytest.mark.django_db


def default_tickers(user) -> list[str]:
    watchlist = Watchlist.objects.get(user=user, is_default=True)
    return list(watchlist.entries.order_by("added_at", "id").values_list("ticker", flat=True))


def cash_of(user) -> Decimal:
    return Portfolio.objects.get(user=user).cash


def position_of(user, ticker: str) -> Position | None:
    return Position.objects.filter(portfolio__user=user, ticker=ticker).first()


# Every user is set up


def test_a_user_made_through_the_orm_has_ten_thousand_cash_and_the_default_watchlist():
    user = make_user()
    assert cash_of(user) == Decimal("10000.00")
    assert default_tickers(user) == list(DEFAULT_TICKERS)


def test_a_user_made_by_createsuperuser_is_set_up(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-enough-password")
    call_command("createsuperuser", "--noinput", "--username", "boss", "--email", "boss@example.com")
    boss = get_user_model().objects.get(username="boss")
    assert cash_of(boss) == Decimal("10000.00")
    assert default_tickers(boss) == list(DEFAULT_TICKERS)


def test_a_user_made_without_signals_is_set_up_on_first_use():
    get_user_model().objects.bulk_create([get_user_model()(username="quiet")])
    user = get_user_model().objects.get(username="quiet")
    assert not Portfolio.objects.filter(user=user).exists()
    assert selectors.portfolio_summary(user)["cash"] == Decimal("10000.00")
    assert [row["ticker"] for row in selectors.watchlist_rows(selectors.default_watchlist(user))] == list(
        DEFAULT_TICKERS
    )


def test_ensure_user_setup_is_idempotent():
    user = make_user()
    services.ensure_user_setup(user)
    services.ensure_user_setup(user)
    assert Portfolio.objects.filter(user=user).count() == 1
    assert Watchlist.objects.filter(user=user).count() == 1
    assert WatchlistEntry.objects.filter(watchlist__user=user).count() == len(DEFAULT_TICKERS)


def test_a_lost_default_watchlist_comes_back_on_first_use():
    user = make_user()
    Watchlist.objects.filter(user=user).delete()
    assert selectors.default_watchlist(user).is_default
    assert default_tickers(user) == list(DEFAULT_TICKERS)


# Buying and selling


def test_a_buy_fills_at_the_cached_price_and_moves_cash_into_a_position():
    user = make_user()
    set_price("AAPL", 190.0)
    trade = services.execute_trade(user, "AAPL", "buy", 10)
    assert (trade.side, trade.quantity, trade.price, trade.notional) == (
        "buy",
        Decimal("10"),
        Decimal("190"),
        Decimal("1900.00"),
    )
    assert trade.realized_pnl is None
    assert trade.cash_after == cash_of(user) == Decimal("8100.00")
    position = position_of(user, "AAPL")
    assert (position.quantity, position.avg_cost) == (Decimal("10"), Decimal("190"))


def test_a_second_buy_averages_the_cost_by_quantity():
    user = make_user()
    set_price("AAPL", 190.0)
    services.execute_trade(user, "AAPL", "buy", 10)
    set_price("AAPL", 200.0)
    services.execute_trade(user, "AAPL", "buy", 30)
    position = position_of(user, "AAPL")
    assert position.quantity == Decimal("40")
    assert position.avg_cost == Decimal("197.5")  # (10 x 190 + 30 x 200) / 40
    assert cash_of(user) == Decimal("10000.00") - Decimal("1900.00") - Decimal("6000.00")


def test_a_sell_records_realized_pnl_against_the_average_cost():
    user = make_user()
    set_price("AAPL", 190.0)
    services.execute_trade(user, "AAPL", "buy", 10)
    set_price("AAPL", 210.5)
    trade = services.execute_trade(user, "AAPL", "sell", 4)
    assert trade.notional == Decimal("842.00")
    assert trade.realized_pnl == Decimal("82.00")  # 4 x (210.50 - 190)
    assert cash_of(user) == Decimal("8100.00") + Decimal("842.00")
    position = position_of(user, "AAPL")
    assert (position.quantity, position.avg_cost) == (Decimal("6"), Decimal("190"))


def test_a_losing_sell_records_a_negative_realized_pnl():
    user = make_user()
    set_price("TSLA", 250.0)
    services.execute_trade(user, "TSLA", "buy", 2)
    set_price("TSLA", 240.0)
    assert services.execute_trade(user, "TSLA", "sell", 2).realized_pnl == Decimal("-20.00")


def test_selling_the_whole_position_closes_it():
    user = make_user()
    set_price("MSFT", 420.0)
    services.execute_trade(user, "MSFT", "buy", "2.5")
    services.execute_trade(user, "MSFT", "sell", "2.5")
    assert position_of(user, "MSFT") is None
    assert cash_of(user) == Decimal("10000.00")


def test_fractional_trades_are_exact_to_the_cent():
    user = make_user()
    set_price("AAPL", 190.23)
    trade = services.execute_trade(user, "AAPL", "buy", "0.5")
    assert trade.price == Decimal("190.23")
    assert trade.notional == Decimal("95.12")  # 95.115: a buy's notional is rounded up
    assert cash_of(user) == Decimal("9904.88")
    assert position_of(user, "AAPL").quantity == Decimal("0.5")


def test_a_float_quantity_is_read_as_the_decimal_it_shows():
    user = make_user()
    set_price("V", 280.0)
    assert services.execute_trade(user, "V", "buy", 0.1).quantity == Decimal("0.1")
    assert cash_of(user) == Decimal("9972.00")


def test_six_decimal_places_are_accepted():
    user = make_user()
    set_price("NVDA", 800.0)
    trade = services.execute_trade(user, "NVDA", "buy", "0.123456")
    assert trade.quantity == Decimal("0.123456")
    assert trade.notional == Decimal("98.77")  # 98.7648, rounded up: a buy never costs less


def test_side_and_ticker_are_normalised():
    user = make_user()
    set_price("AAPL", 100.0)
    trade = services.execute_trade(user, "  aapl ", " BUY", 1)
    assert (trade.ticker, trade.side) == ("AAPL", "buy")


def test_repeated_fractional_trades_keep_exact_decimal_cash():
    user = make_user()
    set_price("JPM", 195.37)
    for _ in range(7):
        services.execute_trade(user, "JPM", "buy", "0.3")
    # each 0.3 x 195.37 = 58.611 -> 58.62 (a buy's notional is rounded up)
    assert cash_of(user) == Decimal("10000.00") - 7 * Decimal("58.62")
    assert position_of(user, "JPM").quantity == Decimal("2.1")


# Refusals change nothing


def assert_refused(user, ticker, side, quantity, message_part: str) -> None:
    before = (cash_of(user), list(Position.objects.values_list("ticker", "quantity")), Trade.objects.count())
    with pytest.raises(TradeRefused) as refused:
        services.execute_trade(user, ticker, side, quantity)
    assert message_part.lower() in str(refused.value).lower()
    after = (cash_of(user), list(Position.objects.values_list("ticker", "quantity")), Trade.objects.count())
    assert after == before


@pytest.mark.parametrize(
    ("quantity", "why"),
    [
        (0, "greater than zero"),
        ("0", "greater than zero"),
        (-1, "greater than zero"),
        ("-0.5", "greater than zero"),
        ("abc", "not a number"),
        ("", "required"),
        ("1,5", "not a number"),
        (None, "must be a number"),
        ([1], "must be a number"),
        (True, "not true or false"),
        ("NaN", "finite"),
        ("sNaN", "finite"),
        (float("nan"), "finite"),
        ("Infinity", "finite"),
        (float("inf"), "finite"),
        ("1e12", "absurd"),
        (10**15, "absurd"),
        ("0.0000001", "decimal places"),
        (1e-7, "decimal places"),
        ("1.1234567", "decimal places"),
    ],
)
def test_a_bad_quantity_is_refused_and_changes_nothing(quantity, why):
    user = make_user()
    set_price("AAPL", 1.0)
    assert_refused(user, "AAPL", "buy", quantity, why)


@pytest.mark.parametrize("side", ["hold", "", None, 1, "buyy"])
def test_an_unknown_side_is_refused(side):
    user = make_user()
    set_price("AAPL", 190.0)
    assert_refused(user, "AAPL", side, 1, "'buy' or 'sell'")


@pytest.mark.parametrize("ticker", ["", "AAPL MSFT", "TOOLONGTICKER", "A$", None])
def test_a_bad_ticker_is_refused(ticker):
    user = make_user()
    assert_refused(user, ticker, "buy", 1, "ticker")


def test_a_ticker_without_a_price_is_refused():
    user = make_user()
    set_price("AAPL", 190.0)
    assert_refused(user, "ZZZZ", "buy", 1, "no live price for ZZZZ")


def test_a_stale_feed_refuses_trades():
    user = make_user()
    set_price("AAPL", 190.0)
    get_feed().cache.mark_success(time.time() - 3600)
    assert_refused(user, "AAPL", "buy", 1, "stale")


def test_buying_with_no_price_at_all_is_refused_as_no_live_prices():
    user = make_user()
    assert_refused(user, "AAPL", "buy", 1, "no live prices")


def test_a_buy_beyond_the_cash_is_refused():
    user = make_user()
    set_price("NVDA", 800.0)
    assert_refused(user, "NVDA", "buy", 13, "not enough cash")  # 10,400 > 10,000


def test_a_buy_of_exactly_all_the_cash_is_allowed():
    user = make_user()
    set_price("NVDA", 800.0)
    services.execute_trade(user, "NVDA", "buy", "12.5")
    assert cash_of(user) == Decimal("0.00")


def test_selling_more_than_held_is_refused():
    user = make_user()
    set_price("AAPL", 190.0)
    services.execute_trade(user, "AAPL", "buy", 2)
    assert_refused(user, "AAPL", "sell", "2.000001", "not enough shares")


def test_selling_a_ticker_never_held_is_refused():
    user = make_user()
    set_price("AAPL", 190.0)
    assert_refused(user, "AAPL", "sell", 1, "not enough shares")


def test_a_buy_worth_less_than_a_cent_is_refused():
    user = make_user()
    set_price("AAPL", 1.0)
    assert_refused(user, "AAPL", "buy", "0.000001", "less than a cent")


def test_one_users_trades_never_touch_another_users_portfolio():
    alice, bob = make_user(), make_user()
    set_price("AAPL", 100.0)
    services.execute_trade(alice, "AAPL", "buy", 5)
    assert cash_of(bob) == Decimal("10000.00")
    assert position_of(bob, "AAPL") is None
    with pytest.raises(TradeRefused):
        services.execute_trade(bob, "AAPL", "sell", 1)


# The trade log and snapshots


def test_an_existing_trade_cannot_be_changed():
    user = make_user()
    set_price("AAPL", 190.0)
    trade = services.execute_trade(user, "AAPL", "buy", 1)
    trade.quantity = Decimal("100")
    with pytest.raises(ValueError, match="append-only"):
        trade.save()
    assert Trade.objects.get(pk=trade.pk).quantity == Decimal("1")


def test_every_trade_records_a_value_snapshot():
    user = make_user()
    set_price("AAPL", 190.0)
    services.execute_trade(user, "AAPL", "buy", 10)
    snapshot = PortfolioSnapshot.objects.get(portfolio__user=user)
    assert (snapshot.cash, snapshot.total_value) == (Decimal("8100.00"), Decimal("10000.00"))


def test_record_value_snapshots_values_every_portfolio_at_live_prices():
    alice, bob = make_user(), make_user()
    set_prices({"AAPL": 100.0, "MSFT": 200.0})
    services.execute_trade(alice, "AAPL", "buy", 10)
    services.execute_trade(bob, "MSFT", "buy", 5)
    set_prices({"AAPL": 110.0, "MSFT": 190.0})
    PortfolioSnapshot.objects.all().delete()
    assert services.record_value_snapshots() == 2
    values = dict(PortfolioSnapshot.objects.values_list("portfolio__user__username", "total_value"))
    assert values == {alice.username: Decimal("10100.00"), bob.username: Decimal("9950.00")}


def test_record_value_snapshots_skips_while_prices_are_stale():
    make_user()
    set_price("AAPL", 100.0)
    get_feed().cache.mark_success(time.time() - 3600)
    assert services.record_value_snapshots() == 0
    assert not PortfolioSnapshot.objects.exists()


def test_record_value_snapshots_inserts_in_one_query(django_assert_max_num_queries, monkeypatch):
    for _ in range(5):
        make_user()
    set_price("AAPL", 100.0)
    monkeypatch.setattr(services, "_last_prune", timezone.now())  # the hourly prune is not due
    with django_assert_max_num_queries(3):  # portfolios, their positions, one insert
        assert services.record_value_snapshots() == 5


def test_value_snapshots_older_than_the_retention_are_pruned(settings, monkeypatch):
    settings.PORTFOLIO_SNAPSHOT_RETENTION_DAYS = 30
    monkeypatch.setattr(services, "_last_prune", None)
    portfolio = services.ensure_user_setup(make_user())
    now = timezone.now()
    for age in (timedelta(days=31), timedelta(days=29)):
        PortfolioSnapshot.objects.create(
            portfolio=portfolio, recorded_at=now - age, total_value=Decimal("1.00"), cash=Decimal("1.00")
        )
    set_price("AAPL", 100.0)
    assert services.record_value_snapshots() == 1
    ages = sorted(now - s.recorded_at for s in PortfolioSnapshot.objects.filter(portfolio=portfolio))
    assert len(ages) == 2 and ages[1] < timedelta(days=30)  # the 29-day-old one and the new one


def test_the_retention_prune_runs_at_most_once_an_hour(monkeypatch):
    monkeypatch.setattr(services, "_last_prune", timezone.now() - timedelta(minutes=5))
    portfolio = services.ensure_user_setup(make_user())
    PortfolioSnapshot.objects.create(
        portfolio=portfolio,
        recorded_at=timezone.now() - timedelta(days=365),
        total_value=Decimal("1.00"),
        cash=Decimal("1.00"),
    )
    set_price("AAPL", 100.0)
    services.record_value_snapshots()
    assert PortfolioSnapshot.objects.filter(portfolio=portfolio).count() == 2


# Watchlists


def test_adding_a_ticker_normalises_it_and_reports_whether_it_was_new():
    watchlist = selectors.default_watchlist(make_user())
    entry, created = services.add_to_watchlist(watchlist, " pltr ")
    assert (entry.ticker, created) == ("PLTR", True)
    assert services.add_to_watchlist(watchlist, "PLTR") == (entry, False)


def test_adding_an_invalid_ticker_is_refused_with_the_ticker_rule():
    watchlist = selectors.default_watchlist(make_user())
    with pytest.raises(ServiceError, match="letters, digits"):
        services.add_to_watchlist(watchlist, "BAD!")
    assert watchlist.entries.count() == len(DEFAULT_TICKERS)


def test_removing_a_ticker_says_whether_it_was_there():
    watchlist = selectors.default_watchlist(make_user())
    assert services.remove_from_watchlist(watchlist, "aapl") is True
    assert services.remove_from_watchlist(watchlist, "AAPL") is False
    assert "AAPL" not in watchlist.entries.values_list("ticker", flat=True)


def test_watchlist_names_are_unique_per_user_ignoring_case():
    user, other = make_user(), make_user()
    services.create_watchlist(user, "Tech")
    with pytest.raises(ServiceError, match="already have a watchlist"):
        services.create_watchlist(user, "  tech ")
    assert services.create_watchlist(other, "Tech").name == "Tech"


def test_a_watchlist_can_be_renamed_but_not_onto_another_name():
    user = make_user()
    tech = services.create_watchlist(user, "Tech")
    services.create_watchlist(user, "Banks")
    assert services.rename_watchlist(tech, "Chips").name == "Chips"
    with pytest.raises(ServiceError, match="already have"):
        services.rename_watchlist(tech, "BANKS")
    with pytest.raises(ServiceError, match="needs a name"):
        services.rename_watchlist(tech, "   ")


def test_the_default_watchlist_cannot_be_deleted():
    user = make_user()
    with pytest.raises(ServiceError, match="default watchlist cannot be deleted"):
        services.delete_watchlist(selectors.default_watchlist(user))
    assert Watchlist.objects.filter(user=user, is_default=True).exists()


def test_deleting_a_watchlist_deletes_its_entries():
    user = make_user()
    tech = services.create_watchlist(user, "Tech")
    services.add_to_watchlist(tech, "PLTR")
    services.delete_watchlist(tech)
    assert not Watchlist.objects.filter(pk=tech.pk).exists()
    assert not WatchlistEntry.objects.filter(ticker="PLTR").exists()


def test_making_another_watchlist_the_default_demotes_the_old_one():
    user = make_user()
    old = selectors.default_watchlist(user)
    tech = services.create_watchlist(user, "Tech")
    services.set_default_watchlist(tech)
    assert selectors.default_watchlist(user) == tech
    old.refresh_from_db()
    assert not old.is_default


def test_a_sell_that_would_overflow_cash_is_refused():
    user = make_user()
    set_price("AAPL", 0.01)
    services.execute_trade(user, "AAPL", "buy", 100_000)
    set_price("AAPL", 999_999_999.0)
    assert_refused(user, "AAPL", "sell", 100_000, "too large")


def test_an_unusable_cached_price_is_refused():
    user = make_user()
    set_price("AAPL", float("nan"))
    assert_refused(user, "AAPL", "buy", 1, "no usable price")
