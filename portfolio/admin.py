"""The staff admin: watchlists with their entries (edits reach the feed through signals), and
read-only portfolios, positions, trades and snapshots, with live prices from this process's feed.

Figures read as on the pages (``portfolio.display``): money as money ("$2,282.45"), prices as stored,
quantities without trailing zeros, times in UTC to the second."""

from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.db.models import Count, OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html

from market import prices as market_prices

from . import display, selectors, services
from .forms import UserAddForm, UserEditForm, WatchlistEntryForm, WatchlistEntryFormSet, WatchlistForm
from .login_throttle import AdminLoginForm
from .models import Order, Portfolio, PortfolioSnapshot, Position, Trade, Watchlist, WatchlistEntry
from .money import price_from_float, value_in_cents

NO_PRICE = "no price yet"

admin.site.site_header = "FinAlly administration"
admin.site.site_title = "FinAlly admin"
TRADES_SHOWN_INLINE = 20


def live_price_of(ticker: str | None):
    """The cached price of ``ticker`` as a Decimal, or None."""
    if not ticker:
        return None
    price = market_prices.price(ticker)
    return None if price is None else price_from_float(price)


def shown_price(price) -> str:
    return NO_PRICE if price is None else display.unit_price(price)


def shown(kind, field: str, description: str | None = None):
    """A list or detail column showing the model field ``field`` through ``display.<kind>`` (sortable)."""

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(self, obj):
        value = getattr(obj, field)
        return "" if value is None else kind(value)

    return column


def shown_time(field: str, description: str | None = None):
    """A column showing the datetime ``field`` in UTC to the second (sortable)."""
    return shown(display.utc_text, field, description)


class ReadOnlyAdminMixin:
    """View-only: the log and the balances change only through the services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WatchlistEntryInline(admin.TabularInline):
    model = WatchlistEntry
    form = WatchlistEntryForm
    formset = WatchlistEntryFormSet
    fields = ["ticker", "live_price", "added"]
    readonly_fields = ["live_price", "added"]
    extra = 1

    added = shown_time("added_at", "added")

    @admin.display(description="live price")
    def live_price(self, entry):
        if entry is None or not entry.pk:
            return "-"
        return shown_price(live_price_of(entry.ticker))


@admin.register(Watchlist)
class WatchlistAdmin(admin.ModelAdmin):
    form = WatchlistForm
    inlines = [WatchlistEntryInline]
    list_display = ["name", "user", "is_default", "ticker_count", "created"]
    list_filter = ["is_default"]
    search_fields = ["name", "user__username", "entries__ticker"]
    list_select_related = ["user"]
    actions = ["make_default"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(ticker_count=Count("entries"))

    created = shown_time("created_at", "created")

    def get_fields(self, request, obj=None):
        return ["user", "name", "is_default", "created"]

    def get_readonly_fields(self, request, obj=None):
        # New lists are never the default (use the action); a list stays with its user.
        return ["is_default", "created", "user"] if obj else ["is_default", "created"]

    @admin.display(description="tickers", ordering="ticker_count")
    def ticker_count(self, watchlist):
        return watchlist.ticker_count

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_default)

    def delete_queryset(self, request, queryset):
        defaults = queryset.filter(is_default=True)
        if defaults.exists():
            self.message_user(
                request,
                f"Kept {defaults.count()} default watchlist(s): a default watchlist cannot be deleted.",
                messages.WARNING,
            )
        for watchlist in queryset.filter(is_default=False):
            services.delete_watchlist(watchlist)

    @admin.action(description="Make the selected watchlist its user's default")
    def make_default(self, request, queryset):
        for watchlist in queryset:
            services.set_default_watchlist(watchlist)
        self.message_user(request, f"{queryset.count()} watchlist(s) made the default.", messages.SUCCESS)


class PositionColumns:
    """A position's figures, in the inline and in the position list."""

    quantity_shown = shown(display.quantity, "quantity")
    avg_cost_shown = shown(display.unit_price, "avg_cost", "average cost")
    updated = shown_time("updated_at", "updated")

    @admin.display(description="live price")
    def live_price(self, position):
        return shown_price(live_price_of(position.ticker))

    @admin.display(description="market value")
    def market_value(self, position):
        price = live_price_of(position.ticker)
        return NO_PRICE if price is None else display.money(value_in_cents(position.quantity, price))


class TradeColumns:
    """A trade's figures, in the inline and in the trade log."""

    executed = shown_time("executed_at", "executed")
    quantity_shown = shown(display.quantity, "quantity")
    price_shown = shown(display.unit_price, "price")
    notional_shown = shown(display.money, "notional")
    realized_pnl_shown = shown(display.signed_money, "realized_pnl", "realized P&L")
    cash_after_shown = shown(display.money, "cash_after", "cash after")

    FIGURES = ["quantity_shown", "price_shown", "notional_shown", "realized_pnl_shown"]


class PositionInline(PositionColumns, ReadOnlyAdminMixin, admin.TabularInline):
    model = Position
    fields = ["ticker", "quantity_shown", "avg_cost_shown", "live_price", "market_value", "updated"]
    readonly_fields = fields
    extra = 0


class RecentTradeInline(TradeColumns, ReadOnlyAdminMixin, admin.TabularInline):
    model = Trade
    fields = ["executed", "side", "ticker", *TradeColumns.FIGURES, "cash_after_shown"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = f"latest trades (up to {TRADES_SHOWN_INLINE})"

    def get_queryset(self, request):
        latest = (
            Trade.objects.filter(portfolio=OuterRef("portfolio"))
            .order_by("-executed_at", "-id")
            .values("id")[:TRADES_SHOWN_INLINE]
        )
        return super().get_queryset(request).filter(pk__in=Subquery(latest))


@admin.register(Portfolio)
class PortfolioAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "cash_shown", "total_value", "unrealized_pnl", "position_count", "created"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
    fields = ["user", "cash_shown", "total_value", "unrealized_pnl", "created", "all_trades"]
    readonly_fields = fields
    inlines = [PositionInline, RecentTradeInline]

    cash_shown = shown(display.money, "cash")
    created = shown_time("created_at", "created")

    def get_queryset(self, request):
        # Positions prefetched: a page of portfolios is valued at live prices in one more query.
        queryset = super().get_queryset(request).annotate(position_count=Count("positions"))
        return queryset.prefetch_related("positions")

    @admin.display(description="total value")
    def total_value(self, portfolio):
        """Cash plus positions at live prices (at cost without a price), as the portfolio page counts it."""
        return display.money(selectors.portfolio_value(portfolio)["total_value"])

    @admin.display(description="unrealized P&L")
    def unrealized_pnl(self, portfolio):
        return display.signed_money(selectors.portfolio_value(portfolio)["unrealized_pnl"])

    @admin.display(description="positions", ordering="position_count")
    def position_count(self, portfolio):
        return portfolio.position_count

    @admin.display(description="trade log")
    def all_trades(self, portfolio):
        url = reverse("admin:portfolio_trade_changelist") + f"?portfolio__id__exact={portfolio.pk}"
        return format_html('<a href="{}">all {} trades</a>', url, portfolio.trades.count())


@admin.register(Position)
class PositionAdmin(PositionColumns, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "ticker",
        "portfolio",
        "quantity_shown",
        "avg_cost_shown",
        "live_price",
        "market_value",
        "updated",
    ]
    list_select_related = ["portfolio__user"]
    search_fields = ["ticker", "portfolio__user__username"]
    fields = list_display
    readonly_fields = fields


@admin.register(Trade)
class TradeAdmin(TradeColumns, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["executed", "portfolio", "side", "ticker", *TradeColumns.FIGURES]
    fields = [*list_display, "cash_after_shown"]
    readonly_fields = fields
    list_filter = ["side"]
    list_select_related = ["portfolio__user"]
    search_fields = ["ticker", "portfolio__user__username"]
    date_hierarchy = "executed_at"


@admin.register(PortfolioSnapshot)
class PortfolioSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["recorded", "portfolio", "total_value_shown", "cash_shown"]
    fields = list_display
    readonly_fields = fields
    recorded = shown_time("recorded_at", "recorded")
    total_value_shown = shown(display.money, "total_value", "total value")
    cash_shown = shown(display.money, "cash")
    list_select_related = ["portfolio__user"]
    search_fields = ["portfolio__user__username"]
    date_hierarchy = "recorded_at"


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every order and its life; read-only (orders change only through the order services)."""

    list_display = [
        "created_at",
        "portfolio",
        "side",
        "type",
        "ticker",
        "quantity",
        "limit_price",
        "stop_price",
        "time_in_force",
        "status",
        "fill_price",
        "filled_at",
    ]
    list_filter = ["status", "type", "side", "time_in_force"]
    list_select_related = ["portfolio__user"]
    search_fields = ["ticker", "portfolio__user__username"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Order._meta.fields]


class UserAdmin(auth_admin.UserAdmin):
    """Django's user admin, with sign-up's rules: no look-alike usernames, no control characters."""

    form = UserEditForm
    add_form = UserAddForm


# The admin's login is throttled like the site's, with the same message (portfolio.login_throttle).
admin.site.login_form = AdminLoginForm

if admin.site.is_registered(get_user_model()):
    admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserAdmin)
