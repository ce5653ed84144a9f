"""The staff admin, driven through its own views: watchlist entries reach the feed's demand; the
money side is read-only; tickers are validated with clear messages."""

import pytest
from django.contrib.auth import get_user_model

from market.seed_prices import DEFAULT_TICKERS
from portfolio import selectors, services
from portfolio.models import Portfolio, Trade, Watchlist, WatchlistEntry
from tests.portfolio_support import make_user, set_price

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def change_url(watchlist) -> str:
    return f"/admin/portfolio/watchlist/{watchlist.pk}/change/"


def inline_form_data(watchlist, new_tickers=(), delete=(), rename=None) -> dict:
    """The POST of the watchlist change form: existing entries as they are, plus ``new_tickers``."""
    entries = list(watchlist.entries.order_by("added_at", "id"))
    data = {
        "name": rename or watchlist.name,
        "entries-TOTAL_FORMS": str(len(entries) + len(new_tickers)),
        "entries-INITIAL_FORMS": str(len(entries)),
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
    }
    for i, entry in enumerate(entries):
        data[f"entries-{i}-id"] = str(entry.pk)
        data[f"entries-{i}-watchlist"] = str(watchlist.pk)
        data[f"entries-{i}-ticker"] = entry.ticker
        if entry.ticker in delete:
            data[f"entries-{i}-DELETE"] = "on"
    for j, ticker in enumerate(new_tickers, start=len(entries)):
        data[f"entries-{j}-id"] = ""
        data[f"entries-{j}-watchlist"] = str(watchlist.pk)
        data[f"entries-{j}-ticker"] = ticker
    return data


def tickers_of(watchlist) -> list[str]:
    return list(watchlist.entries.order_by("added_at", "id").values_list("ticker", flat=True))


def test_adding_an_entry_in_the_inline_saves_it_normalised_and_counts_it_for_the_feed(
    admin_client, django_capture_on_commit_callbacks
):
    watchlist = selectors.default_watchlist(make_user())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(change_url(watchlist), inline_form_data(watchlist, [" pltr "]))
    assert response.status_code == 302
    assert tickers_of(watchlist) == [*DEFAULT_TICKERS, "PLTR"]
    assert selectors.ticker_demand(["PLTR"]) == {"PLTR": 1}


def test_an_admin_edit_of_a_default_watchlist_is_sent_to_the_users_sockets(
    admin_client, notified, django_capture_on_commit_callbacks
):
    user = make_user()
    watchlist = selectors.default_watchlist(user)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(change_url(watchlist), inline_form_data(watchlist, ["PLTR"], delete=["AAPL"]))
    assert notified[-1] == (
        user.pk,
        {"type": "watchlist", "name": watchlist.name, "tickers": [*DEFAULT_TICKERS[1:], "PLTR"]},
    )


def test_deleting_an_entry_in_the_inline_removes_it(admin_client):
    watchlist = selectors.default_watchlist(make_user())
    services.add_to_watchlist(watchlist, "PLTR")
    response = admin_client.post(change_url(watchlist), inline_form_data(watchlist, delete=["PLTR"]))
    assert response.status_code == 302
    assert selectors.ticker_demand(["PLTR"]) == {"PLTR": 0}


@pytest.mark.parametrize(
    ("ticker", "message"),
    [("BAD TICKER", "is not valid"), ("WAYTOOLONGTICKER", "too long"), ("a$b", "is not valid")],
)
def test_an_invalid_ticker_in_the_inline_is_a_form_error_and_changes_nothing(admin_client, ticker, message):
    watchlist = selectors.default_watchlist(make_user())
    response = admin_client.post(change_url(watchlist), inline_form_data(watchlist, [ticker]))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert tickers_of(watchlist) == list(DEFAULT_TICKERS)


def test_a_duplicate_ticker_in_the_inline_is_a_form_error(admin_client):
    watchlist = selectors.default_watchlist(make_user())
    response = admin_client.post(change_url(watchlist), inline_form_data(watchlist, ["aapl"]))
    assert response.status_code == 200
    assert "already on this watchlist" in response.content.decode()
    assert tickers_of(watchlist).count("AAPL") == 1


def test_editing_an_entrys_ticker_recounts_both_tickers(admin_client):
    watchlist = selectors.default_watchlist(make_user())
    services.add_to_watchlist(watchlist, "OLD")
    data = inline_form_data(watchlist)
    index = tickers_of(watchlist).index("OLD")
    data[f"entries-{index}-ticker"] = "new"
    assert admin_client.post(change_url(watchlist), data).status_code == 302
    assert selectors.ticker_demand(["OLD", "NEW"]) == {"OLD": 0, "NEW": 1}


def test_the_change_page_shows_each_tickers_live_price(admin_client):
    watchlist = selectors.default_watchlist(make_user())
    set_price("AAPL", 191.25)
    content = admin_client.get(change_url(watchlist)).content.decode()
    assert "191.25" in content
    assert "no price yet" in content


def test_a_clashing_watchlist_name_is_a_form_error(admin_client):
    user = make_user()
    services.create_watchlist(user, "Tech")
    other = services.create_watchlist(user, "Banks")
    response = admin_client.post(change_url(other), inline_form_data(other, rename="tech"))
    assert response.status_code == 200
    assert "already has a watchlist named" in response.content.decode()


def test_a_new_watchlist_can_be_added_for_a_user(admin_client):
    user = make_user()
    data = {
        "user": str(user.pk),
        "name": "Chips",
        "entries-TOTAL_FORMS": "1",
        "entries-INITIAL_FORMS": "0",
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
        "entries-0-ticker": "amd",
    }
    assert admin_client.post("/admin/portfolio/watchlist/add/", data).status_code == 302
    chips = Watchlist.objects.get(user=user, name="Chips")
    assert (chips.is_default, tickers_of(chips)) == (False, ["AMD"])


def test_the_default_watchlist_cannot_be_deleted_in_the_admin(admin_client):
    watchlist = selectors.default_watchlist(make_user())
    response = admin_client.post(f"/admin/portfolio/watchlist/{watchlist.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Watchlist.objects.filter(pk=watchlist.pk).exists()


def test_bulk_delete_refuses_a_selection_holding_a_default_watchlist(admin_client):
    user = make_user()
    default = selectors.default_watchlist(user)
    extra = services.create_watchlist(user, "Extra")
    response = admin_client.post(
        "/admin/portfolio/watchlist/",
        {"action": "delete_selected", "_selected_action": [default.pk, extra.pk], "post": "yes"},
    )
    assert response.status_code == 403
    assert Watchlist.objects.filter(user=user).count() == 2


def test_bulk_delete_removes_other_watchlists(admin_client):
    user = make_user()
    default = selectors.default_watchlist(user)
    extra = services.create_watchlist(user, "Extra")
    admin_client.post(
        "/admin/portfolio/watchlist/",
        {"action": "delete_selected", "_selected_action": [extra.pk], "post": "yes"},
    )
    assert list(Watchlist.objects.filter(user=user)) == [default]


def test_the_make_default_action_moves_the_default(admin_client):
    user = make_user()
    extra = services.create_watchlist(user, "Extra")
    admin_client.post(
        "/admin/portfolio/watchlist/", {"action": "make_default", "_selected_action": [extra.pk]}
    )
    assert selectors.default_watchlist(user) == extra


def test_a_user_added_in_the_admin_is_set_up(admin_client):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "fromadmin", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"},
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="fromadmin")
    assert Portfolio.objects.get(user=user).cash == 10000
    assert tickers_of(Watchlist.objects.get(user=user, is_default=True)) == list(DEFAULT_TICKERS)


def test_a_portfolio_page_shows_positions_with_live_prices_and_trades(admin_client):
    user = make_user()
    set_price("NVDA", 800.0)
    services.execute_trade(user, "NVDA", "buy", "1.5")
    set_price("NVDA", 812.5)
    portfolio = Portfolio.objects.get(user=user)
    response = admin_client.get(f"/admin/portfolio/portfolio/{portfolio.pk}/change/")
    content = response.content.decode()
    assert response.status_code == 200
    assert "$812.50" in content  # live price
    assert "$1,218.75" in content  # market value
    assert "all 1 trades" in content


def test_the_portfolio_list_shows_money_as_money_with_total_value_and_pnl_at_live_prices(admin_client):
    user = make_user()
    set_price("NVDA", 800.0)
    services.execute_trade(user, "NVDA", "buy", "10")
    set_price("NVDA", 812.5)
    content = admin_client.get("/admin/portfolio/portfolio/").content.decode()
    assert "$2,000.00" in content  # cash
    assert "$10,125.00" in content  # total value: 2,000 + 10 x 812.50
    assert "+$125.00" in content  # unrealized P&L


def test_the_trade_log_shows_quantities_without_trailing_zeros_and_times_to_the_second(admin_client):
    user = make_user()
    set_price("AAPL", 249.17)
    trade = services.execute_trade(user, "AAPL", "buy", "6")
    content = admin_client.get("/admin/portfolio/trade/").content.decode()
    assert ">6<" in content and "6.000000" not in content
    assert "$249.17" in content and "249.170000" not in content
    assert "$1,495.02" in content
    assert trade.executed_at.strftime("%Y-%m-%d %H:%M:%S UTC") in content


def test_the_trade_log_link_filters_by_portfolio(admin_client):
    alice, bob = make_user(), make_user()
    set_price("AAPL", 10.0)
    services.execute_trade(alice, "AAPL", "buy", 1)
    services.execute_trade(bob, "AAPL", "buy", 7)
    portfolio = Portfolio.objects.get(user=alice)
    response = admin_client.get(f"/admin/portfolio/trade/?portfolio__id__exact={portfolio.pk}")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


@pytest.mark.parametrize("model", ["trade", "portfolio", "position", "portfoliosnapshot"])
def test_the_money_side_cannot_be_added_in_the_admin(admin_client, model):
    assert admin_client.get(f"/admin/portfolio/{model}/add/").status_code == 403


def test_a_trade_can_be_viewed_but_not_changed_or_deleted(admin_client):
    user = make_user()
    set_price("AAPL", 10.0)
    trade = services.execute_trade(user, "AAPL", "buy", 1)
    url = f"/admin/portfolio/trade/{trade.pk}/change/"
    assert admin_client.get(url).status_code == 200
    admin_client.post(url, {"quantity": "100"})
    assert Trade.objects.get(pk=trade.pk).quantity == 1
    assert admin_client.post(f"/admin/portfolio/trade/{trade.pk}/delete/", {"post": "yes"}).status_code == 403


def test_a_non_staff_user_cannot_reach_the_admin(client):
    client.force_login(make_user())
    response = client.get("/admin/portfolio/watchlist/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_no_entry_is_added_when_the_inline_is_invalid(admin_client):
    watchlist = selectors.default_watchlist(make_user())
    admin_client.post(change_url(watchlist), inline_form_data(watchlist, ["GOOD", "BAD!"]))
    assert not WatchlistEntry.objects.filter(ticker="GOOD").exists()


def test_the_admin_passes_djangos_checks():
    from django.core import checks

    assert checks.run_checks(tags=[checks.Tags.admin]) == []


def test_orders_are_listed_filterable_by_status_and_read_only(admin_client):
    from portfolio.orders import services as orders

    trader = make_user()
    set_price("AAPL", 190.0)
    open_order = orders.place_order(trader, "AAPL", "buy", 1, type="limit", limit_price=100)
    orders.place_order(trader, "AAPL", "buy", 1)
    listing = admin_client.get("/admin/portfolio/order/?status__exact=open")
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert admin_client.get("/admin/portfolio/order/").context["cl"].result_count == 2
    page = admin_client.get(f"/admin/portfolio/order/{open_order.pk}/change/")
    assert page.status_code == 200
    assert b'name="limit_price"' not in page.content
    assert admin_client.post(f"/admin/portfolio/order/{open_order.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/portfolio/order/add/").status_code == 403
