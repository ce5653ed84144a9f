"""The server-rendered pages: the dashboard, the portfolio with its trade form, the watchlists.

Views translate requests into selector reads and service calls; the rules live in ``services``.
Every POST redirects, a refused one too (to its page, or the form's safe ``next``), so a reload never
offers to send a form again: the refusal and the values the user entered wait in the session until
that page shows them in place. A POST that asks for JSON (``Accept: application/json``, as the page
scripts send) gets ``{"message", "redirect"}`` on success and 400 ``{"error"}`` on refusal instead.
"""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST, require_safe

from market.seed_prices import DEFAULT_TICKERS

from . import charts, display, selectors, services
from .models import Watchlist

REFUSAL_SESSION_KEY = "finally_refusal"
KEPT_VALUE_LENGTH = 100  # what a refusal keeps of each value entered (the boxes take 40 or 64)


def quote_rows(tickers) -> list[dict]:
    """Dashboard rows: the live price, the day's change (``day_change``, ``day_change_percent``, against
    the previous close, as the stream carries them) and the sparkline."""
    return selectors.price_rows(tickers, history=charts.SPARKLINE_POINTS)


def dashboard(request):
    """The visitor's default watchlist, live; anonymous visitors see the default ten. ``?ticker=``
    names the row the large chart shows (the first row otherwise)."""
    if request.user.is_authenticated:
        watchlist = selectors.default_watchlist(request.user)
        tickers = watchlist.tickers()
        name, watchlist_id, editable = watchlist.name, watchlist.pk, True
    else:
        tickers, name, watchlist_id, editable = DEFAULT_TICKERS, "", "", False
    rows = quote_rows(tickers)
    wanted = request.GET.get("ticker", "").strip().upper()
    focus = next((row for row in rows if row["ticker"] == wanted), rows[0] if rows else None)
    return render(
        request,
        "pages/dashboard.html",
        {
            "rows": rows,
            "focus": focus,
            "refusal": _take_refusal(request),
            "watchlist_name": name,
            "watchlist_id": watchlist_id,
            "editable": editable,
            "api_url": reverse("api:watchlist") if editable else "",
            "blank_row": {"ticker": "", "state": "pending", "price": None, "day_change": None, "history": []},
        },
    )


def _wants_json(request) -> bool:
    """The page scripts submit forms with ``Accept: application/json``; browsers ask for HTML."""
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def _safe_next(request, default: str) -> str:
    """The form's ``next`` when it is a URL of this site, else ``default`` (a URL or a URL name)."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse(default) if not default.startswith("/") else default


def _done(request, note: str, default: str):
    """A change went through: the message for the next page, and a redirect there (or JSON saying so)."""
    target = _safe_next(request, default)
    messages.success(request, note)
    if _wants_json(request):
        return JsonResponse({"message": note, "redirect": target})
    return redirect(target)


def _refused(request, refusal, default: str, form: str, values: dict, watchlist: Watchlist | None = None):
    """A refused change: back to the page (or the safe ``next``), which shows the refusal in place with
    the values the user entered (kept in the session until then); JSON 400 ``{"error"}`` for scripts."""
    message = str(refusal)
    if _wants_json(request):
        return JsonResponse({"error": message}, status=400)
    target = _safe_next(request, default)
    request.session[REFUSAL_SESSION_KEY] = {
        "path": target.split("?")[0].split("#")[0],
        "form": form,
        "watchlist": watchlist.pk if watchlist is not None else None,
        "values": {name: str(value)[:KEPT_VALUE_LENGTH] for name, value in values.items()},
        "message": message,
    }
    return redirect(target)


def _take_refusal(request) -> dict:
    """The refusal waiting for this page (``form``, ``watchlist``, ``values``, ``message``), once; {}
    when there is none. A refusal meant for another page is dropped: it would be out of place later."""
    if REFUSAL_SESSION_KEY not in request.session:
        return {}
    refusal = request.session.pop(REFUSAL_SESSION_KEY)
    return refusal if isinstance(refusal, dict) and refusal.get("path") == request.path else {}


def _portfolio_page(request):
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
    refusal = _take_refusal(request)
    # A link may choose the ticket's ticker and side (``?ticker=AAPL&side=buy``, the keyboard's b and s).
    chosen = {"ticker": request.GET.get("ticker", "")[:40], "side": request.GET.get("side", "")}
    chosen["quantity"] = ""
    trade_input = {**chosen, **refusal["values"]} if refusal.get("form") == "trade" else chosen
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
        "chart_trend": display.sign(values[-1] - values[0]),
        "trade_input": trade_input,
        "trade_error": refusal.get("message", "") if refusal.get("form") == "trade" else "",
    }
    return render(request, "pages/portfolio.html", context)


@login_required
def portfolio(request):
    """Cash, positions, trade form, trade history, value chart and heatmap."""
    return _portfolio_page(request)


@login_required
@require_POST
def trade(request):
    """A market order from the trade form; back to the portfolio with the fill or the refusal."""
    values = {name: request.POST.get(name, "") for name in ("ticker", "side", "quantity")}
    try:
        executed = services.execute_trade(request.user, values["ticker"], values["side"], values["quantity"])
    except services.ServiceError as refusal:
        return _refused(request, refusal, "portfolio", "trade", values)
    verb = "Bought" if executed.side == "buy" else "Sold"
    # The price as stored (the notional is quantity x this price, to the cent), never rounded again.
    note = (
        f"{verb} {display.quantity(executed.quantity)} {executed.ticker} at "
        f"{display.unit_price(executed.price)} ({display.money(executed.notional)})."
    )
    return _done(request, note, "portfolio")


def _watchlists_page(request):
    watchlists = selectors.watchlists_for(request.user)
    tickers = [entry.ticker for watchlist in watchlists for entry in watchlist.entries.all()]
    rows = {row["ticker"]: row for row in selectors.price_rows(dict.fromkeys(tickers))}
    items = [
        {"watchlist": watchlist, "rows": [rows[entry.ticker] for entry in watchlist.entries.all()]}
        for watchlist in watchlists
    ]
    return render(request, "pages/watchlists.html", {"watchlists": items, "refusal": _take_refusal(request)})


def _target_watchlist(request) -> Watchlist:
    """The watchlist a form names (``watchlist`` = its id), the user's default one when it names none."""
    raw = request.POST.get("watchlist", "").strip()
    if not raw:
        return selectors.default_watchlist(request.user)
    return get_object_or_404(Watchlist, pk=raw if raw.isdigit() else -1, user=request.user)


def _watchlist_change(request, form: str, field: str, change, watchlist: Watchlist | None = None):
    """Run ``change(value)`` (it returns the note for the user) on the form's ``field``; then redirect
    to the safe ``next`` or /watchlist/, the refusal kept for the page when a rule refuses it."""
    value = request.POST.get(field, "")
    try:
        note = change(value)
    except services.ServiceError as refusal:
        return _refused(request, refusal, "watchlists", form, {field: value}, watchlist)
    return _done(request, note, "watchlists")


@login_required
@require_POST
def watchlist_add(request):
    """Add ``ticker`` to the watchlist ``watchlist`` (an id; the default watchlist when absent)."""
    watchlist = _target_watchlist(request)

    def add(ticker):
        entry, created = services.add_to_watchlist(watchlist, ticker)
        if created:
            return f"Added {entry.ticker} to {watchlist.name}."
        return f"{entry.ticker} is already on {watchlist.name}."

    return _watchlist_change(request, "add", "ticker", add, watchlist)


@login_required
@require_POST
def watchlist_remove(request):
    """Remove ``ticker`` from the watchlist ``watchlist`` (an id; the default watchlist when absent)."""
    watchlist = _target_watchlist(request)

    def remove(ticker):
        shown = ticker.strip().upper()
        if services.remove_from_watchlist(watchlist, ticker):
            return f"Removed {shown} from {watchlist.name}."
        return f"{shown} was not on {watchlist.name}."

    return _watchlist_change(request, "remove", "ticker", remove, watchlist)


@login_required
@require_POST
def watchlist_create(request):
    """Create a watchlist called ``name``."""
    return _watchlist_change(
        request,
        "create",
        "name",
        lambda name: f"Created watchlist {services.create_watchlist(request.user, name).name}.",
    )


@login_required
@require_POST
def watchlist_rename(request):
    """Rename the watchlist ``watchlist`` (an id; the default watchlist when absent) to ``name``."""
    watchlist = _target_watchlist(request)
    return _watchlist_change(
        request,
        "rename",
        "name",
        lambda name: f"Renamed to {services.rename_watchlist(watchlist, name).name}.",
        watchlist,
    )


@login_required
@require_POST
def watchlist_delete(request):
    """Delete the watchlist ``watchlist`` (an id); the default watchlist cannot be deleted."""
    watchlist = _target_watchlist(request)

    def delete(_):
        name = watchlist.name
        services.delete_watchlist(watchlist)
        return f"Deleted watchlist {name}."

    return _watchlist_change(request, "delete", "watchlist", delete, watchlist)


WATCHLIST_ACTIONS = {
    "add": watchlist_add,
    "remove": watchlist_remove,
    "create": watchlist_create,
    "rename": watchlist_rename,
    "delete": watchlist_delete,
}


@login_required
def watchlists(request):
    """The user's watchlists. A POST here is one of the actions' forms, named by its ``action`` field
    (add, remove, create, rename, delete) or by its submit button (``name="remove"`` or ``"add"``); a
    POST with only ``ticker`` adds it. Each action also has its own URL (``/watchlist/<action>/``)."""
    if request.method != "POST":
        return _watchlists_page(request)
    button = next((name for name in ("remove", "add") if name in request.POST), "add")
    action = request.POST.get("action", button).strip().lower()
    if action not in WATCHLIST_ACTIONS:
        refusal = services.ServiceError(f"Unknown action {action[:20]!r}.")
        return _refused(request, refusal, "watchlists", "action", {})
    return WATCHLIST_ACTIONS[action](request)


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request):
    """``/favicon.ico``: the icon browsers and crawlers ask for without reading the page's <link>."""
    found = finders.find("finally/favicon.ico")
    with open(found, "rb") if found else staticfiles_storage.open("finally/favicon.ico") as icon:
        return HttpResponse(icon.read(), content_type="image/x-icon")
