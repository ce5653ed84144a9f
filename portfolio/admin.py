"""The staff admin: watchlists with their entries (edits reach the feed through signals), and
read-only portfolios, positions, trades and snapshots, with live prices from this process's feed."""

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html

from market import prices as market_prices

from . import services
from .forms import WatchlistEntryForm, WatchlistEntryFormSet, WatchlistForm
from .models import Order, Portfolio, PortfolioSnapshot, Position, Trade, Watchlist, WatchlistEntry
from .money import format_money, format_price, format_quantity, price_from_float, value_in_cents

NO_PRICE = "no price yet"
TRADES_SHOWN_INLINE = 20


def live_price_of(ticker: str | None):
    """The cached price of ``ticker`` as a Decimal, or None."""
    if not ticker:
        return None
    price = market_prices.price(ticker)
    return None if price is None else price_from_float(price)


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
    fields = ["ticker", "live_price", "added_at"]
    readonly_fields = ["live_price", "added_at"]
    extra = 1

    @admin.display(description="live price")
    def live_price(self, entry):
        if entry is None or not entry.pk:
            return "-"
        return format_price(live_price_of(entry.ticker)) or NO_PRICE


@admin.register(Watchlist)
class WatchlistAdmin(admin.ModelAdmin):
    form = WatchlistForm
    inlines = [WatchlistEntryInline]
    list_display = ["name", "user", "is_default", "ticker_count", "created_at"]
    list_filter = ["is_default"]
    search_fields = ["name", "user__username", "entries__ticker"]
    list_select_related = ["user"]
    actions = ["make_default"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(ticker_count=Count("entries"))

    def get_readonly_fields(self, request, obj=None):
        # New lists are never the default (use the action); a list stays with its user.
        return ["is_default", "created_at", "user"] if obj else ["is_default", "created_at"]

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


class PositionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Position
    fields = ["ticker", "quantity_shown", "avg_cost_shown", "live_price", "market_value", "updated_at"]
    readonly_fields = fields
    extra = 0

    @admin.display(description="quantity")
    def quantity_shown(self, position):
        return format_quantity(position.quantity)

    @admin.display(description="average cost")
    def avg_cost_shown(self, position):
        return format_price(position.avg_cost)

    @admin.display(description="live price")
    def live_price(self, position):
        return format_price(live_price_of(position.ticker)) or NO_PRICE

    @admin.display(description="market value")
    def market_value(self, position):
        price = live_price_of(position.ticker)
        return NO_PRICE if price is None else format_money(value_in_cents(position.quantity, price))


class RecentTradeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Trade
    fields = ["executed_at", "side", "ticker", "quantity", "price", "notional", "realized_pnl", "cash_after"]
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
    list_display = ["user", "cash", "position_count", "created_at"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
    fields = ["user", "cash", "created_at", "all_trades"]
    readonly_fields = fields
    inlines = [PositionInline, RecentTradeInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(position_count=Count("positions"))

    @admin.display(description="positions", ordering="position_count")
    def position_count(self, portfolio):
        return portfolio.position_count

    @admin.display(description="trade log")
    def all_trades(self, portfolio):
        url = reverse("admin:portfolio_trade_changelist") + f"?portfolio__id__exact={portfolio.pk}"
        return format_html('<a href="{}">all {} trades</a>', url, portfolio.trades.count())


@admin.register(Position)
class PositionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["ticker", "portfolio", "quantity", "avg_cost", "live_price", "updated_at"]
    list_select_related = ["portfolio__user"]
    search_fields = ["ticker", "portfolio__user__username"]

    @admin.display(description="live price")
    def live_price(self, position):
        return format_price(live_price_of(position.ticker)) or NO_PRICE


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "executed_at",
        "portfolio",
        "side",
        "ticker",
        "quantity",
        "price",
        "notional",
        "realized_pnl",
    ]
    list_filter = ["side"]
    list_select_related = ["portfolio__user"]
    search_fields = ["ticker", "portfolio__user__username"]
    date_hierarchy = "executed_at"


@admin.register(PortfolioSnapshot)
class PortfolioSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["recorded_at", "portfolio", "total_value", "cash"]
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
