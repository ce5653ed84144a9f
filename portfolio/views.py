"""The server-rendered pages: the dashboard, the portfolio with its trade form, the watchlists.

Views translate requests into selector reads and service calls; the rules live in ``services``.
A refused change re-renders its page (200, as Django's form views do) with the message in place and the
user's input kept.
"""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from market import prices as market_prices
from market.seed_prices import DEFAULT_TICKERS

from . import charts, selectors, services
from .models import Watchlist
from .money import format_quantity

WATCHLIST_ACTIONS = ("add", "remove", "create", "rename", "delete")
NO_PRICE_AFTER_MIN = 5.0  # seconds a live dashboard waits for a new ticker's price before "unknown"


def quote_rows(tickers) -> list[dict]:
    """Dashboard rows: the live price, the day's change (``day_change``, ``day_change_percent``, against
    the previous close, as the stream carries them) and the sparkline."""
    return selectors.price_rows(tickers, history=charts.SPARKLINE_POINTS)


def dashboard(request):
    """The visitor's default watchlist, live; anonymous visitors see the default ten."""
    if request.user.is_authenticated:
        watchlist = selectors.default_watchlist(request.user)
        tickers = watchlist.tickers()
        name, watchlist_id, editable = watchlist.name, watchlist.pk, True
    else:
        tickers, name, watchlist_id, editable = DEFAULT_TICKERS, "", "", False
    return render(
        request,
        "pages/dashboard.html",
        {
            "rows": quote_rows(tickers),
            "watchlist_name": name,
            "watchlist_id": watchlist_id,
            "editable": editable,
            "api_url": reverse("api:watchlist") if editable else "",
            # A new ticker gets its first price at the source's next update (Massive polls every 15 s).
            "no_price_after_ms": int(1000 * max(NO_PRICE_AFTER_MIN, 2 * market_prices.update_interval() + 1)),
            "blank_row": {"ticker": "", "state": "pending", "price": None, "day_change": None, "history": []},
        },
    )


def _portfolio_page(request, trade_input=None, trade_error=""):
    user = request.user
    summary = selectors.portfolio_summary(user)
    snapshots = selectors.value_history(user)
    history = [(snapshot.recorded_at.timestamp(), snapshot.total_value) for snapshot in snapshots]
    series = [*history, (None, summary["total_value"])]
    values = [value for _, value in series]
    low, high = charts.bounds(values, Decimal(str(charts.VALUE_MIN_SPAN)))
    unrealized = sum(
        (p["unrealized_pnl"] for p in summary["positions"] if p["unrealized_pnl"] is not None), Decimal("0")
    )
    context = {
        "summary": summary,
        "invested": summary["positions_value"],
        "unrealized_pnl": unrealized,
        "trades": selectors.recent_trades(user),
        "value_history": snapshots,
        "value_history_json": [[timestamp, str(value)] for timestamp, value in history],
        "chart_series": series,
        "chart_high": high,
        "chart_low": low,
        "chart_since": snapshots[0].recorded_at if snapshots else None,
        "chart_trend": "up" if values[-1] > values[0] else "down" if values[-1] < values[0] else "flat",
        "trade_input": trade_input or {"ticker": "", "quantity": ""},
        "trade_error": trade_error,
    }
    return render(request, "pages/portfolio.html", context)


@login_required
def portfolio(request):
    """Cash, positions, trade form, trade history, value chart and heatmap."""
    return _portfolio_page(request)


@login_required
@require_POST
def trade(request):
    """A market order from the trade form: redirect with a message, or re-render with the refusal in place."""
    ticker = request.POST.get("ticker", "")
    side = request.POST.get("side", "")
    quantity = request.POST.get("quantity", "")
    try:
        executed = services.execute_trade(request.user, ticker, side, quantity)
    except services.ServiceError as refusal:
        return _portfolio_page(
            request,
            trade_input={"ticker": ticker, "quantity": quantity},
            trade_error=str(refusal),
        )
    verb = "Bought" if executed.side == "buy" else "Sold"
    messages.success(
        request,
        f"{verb} {format_quantity(executed.quantity)} {executed.ticker} at ${executed.price:,.2f} "
        f"(${executed.notional:,.2f}).",
    )
    return redirect("portfolio")


def _watchlists_page(request, error=None):
    watchlists = selectors.watchlists_for(request.user)
    tickers = [entry.ticker for watchlist in watchlists for entry in watchlist.entries.all()]
    rows = {row["ticker"]: row for row in selectors.price_rows(dict.fromkeys(tickers))}
    items = [
        {"watchlist": watchlist, "rows": [rows[entry.ticker] for entry in watchlist.entries.all()]}
        for watchlist in watchlists
    ]
    return render(request, "pages/watchlists.html", {"watchlists": items, "error": error or {}})


def _target_watchlist(request) -> Watchlist:
    """The watchlist a form names (``watchlist`` = its id), the user's default one when it names none."""
    raw = request.POST.get("watchlist", "").strip()
    if not raw:
        return selectors.default_watchlist(request.user)
    return get_object_or_404(Watchlist, pk=raw if raw.isdigit() else -1, user=request.user)


def _after_change(request, default: str):
    """Where a successful form goes: a safe ``next`` from the form, else ``default``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(default)


@login_required
def watchlists(request, action=None):
    """The user's watchlists. POST forms (``action``: add, remove, create, rename, delete) change them.

    ``add`` and ``remove`` take ``ticker`` and an optional ``watchlist`` id (the default watchlist when
    absent); a POST with only ``ticker`` adds it, and a form may name the action by its submit button
    (``name="remove"`` or ``name="add"``) instead. ``create`` and ``rename`` take ``name``.
    """
    if request.method != "POST":
        return _watchlists_page(request)
    # A form without ``action`` may say it with its submit button's name (``<button name="remove">``).
    button = next((name for name in ("remove", "add") if name in request.POST), "add")
    action = action or request.POST.get("action", button).strip().lower()
    if action not in WATCHLIST_ACTIONS:
        return _watchlists_page(request, {"form": "action", "message": f"Unknown action {action[:20]!r}."})
    watchlist = None if action == "create" else _target_watchlist(request)
    value = request.POST.get("name" if action in ("create", "rename") else "ticker", "")
    try:
        if action == "add":
            entry, created = services.add_to_watchlist(watchlist, value)
            note = (
                f"Added {entry.ticker} to {watchlist.name}."
                if created
                else (f"{entry.ticker} is already on {watchlist.name}.")
            )
        elif action == "remove":
            removed = services.remove_from_watchlist(watchlist, value)
            shown = value.strip().upper()
            note = (
                f"Removed {shown} from {watchlist.name}."
                if removed
                else f"{shown} was not on {watchlist.name}."
            )
        elif action == "create":
            note = f"Created watchlist {services.create_watchlist(request.user, value).name}."
        elif action == "rename":
            note = f"Renamed to {services.rename_watchlist(watchlist, value).name}."
        else:
            services.delete_watchlist(watchlist)
            note = f"Deleted watchlist {watchlist.name}."
    except services.ServiceError as refusal:
        error = {
            "form": action,
            "watchlist": watchlist.pk if watchlist else None,
            "value": value,
            "message": str(refusal),
        }
        return _watchlists_page(request, error)
    messages.success(request, note)
    return _after_change(request, "watchlists")
