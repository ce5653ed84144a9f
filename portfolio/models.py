"""Watchlists, portfolios, positions, orders, the trade log and value snapshots.

What must never be false is a database constraint: one default watchlist per user, no negative cash,
no empty or negative position, tickers that follow the ticker rule, orders whose prices fit their type
and whose status agrees with their fill. Precisions: see ``portfolio.money``.
Rules that span rows (cash and position move together) live in ``portfolio.services``.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from market.tickers import InvalidTicker, normalize_ticker

from .money import MAX_DIGITS, MONEY_PLACES, PRICE_PLACES, QUANTITY_PLACES

STARTING_CASH = Decimal("10000.00")
DEFAULT_WATCHLIST_NAME = "Default"
# The database's own copy of market.tickers.TICKER_PATTERN, anchored.
TICKER_REGEX = r"\A[A-Z0-9.\-]{1,10}\Z"


def validate_ticker(value) -> None:
    """A model-field validator: the value must already be a normalised ticker."""
    try:
        normalized = normalize_ticker(value)
    except InvalidTicker as exc:
        raise ValidationError(str(exc), code="invalid_ticker") from None
    if normalized != value:
        raise ValidationError(f"Ticker must be upper case without spaces: {normalized!r}.", code="not_normal")


def ticker_field(**kwargs) -> models.CharField:
    return models.CharField(max_length=10, validators=[validate_ticker], **kwargs)


def ticker_constraint(model_name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(ticker__regex=TICKER_REGEX),
        name=f"{model_name}_ticker_valid",
        violation_error_message="Ticker must be 1 to 10 characters of A-Z, 0-9, '.' or '-'.",
    )


def quantity_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=QUANTITY_PLACES, **kwargs)


def price_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=PRICE_PLACES, **kwargs)


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=MONEY_PLACES, **kwargs)


class Watchlist(models.Model):
    """A named list of tickers; every user has exactly one default watchlist (the dashboard's)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlists")
    name = models.CharField(max_length=64)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "-is_default", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                "user",
                Lower("name"),
                name="watchlist_unique_name_per_user",
                violation_error_message="This user already has a watchlist with this name.",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(is_default=True),
                name="watchlist_one_default_per_user",
                violation_error_message="This user already has a default watchlist.",
            ),
            models.CheckConstraint(
                condition=~Q(name=""),
                name="watchlist_name_not_empty",
                violation_error_message="A watchlist needs a name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    def tickers(self) -> list[str]:
        """The watchlist's tickers in the order they were added (one query)."""
        return list(self.entries.order_by("added_at", "id").values_list("ticker", flat=True))


class WatchlistEntry(models.Model):
    watchlist = models.ForeignKey(Watchlist, on_delete=models.CASCADE, related_name="entries")
    ticker = ticker_field()
    added_at = models.DateTimeField(auto_now_add=True)

    loaded_ticker: str | None = None  # the ticker as last read from or written to the database

    class Meta:
        verbose_name_plural = "watchlist entries"
        ordering = ["watchlist", "added_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["watchlist", "ticker"],
                name="watchlist_entry_unique_ticker",
                violation_error_message="This ticker is already on this watchlist.",
            ),
            ticker_constraint("watchlist_entry"),
        ]
        indexes = [models.Index(fields=["ticker"], name="watchlist_entry_ticker")]

    def __str__(self) -> str:
        return self.ticker

    @classmethod
    def from_db(cls, db, field_names, values):
        entry = super().from_db(db, field_names, values)
        # Remembered so that editing an entry's ticker re-counts the old ticker too (see signals).
        entry.loaded_ticker = entry.__dict__.get("ticker")
        return entry


class Portfolio(models.Model):
    """A user's cash; positions and trades hang off it. Trades lock this row (see services)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portfolio")
    cash = money_field(default=STARTING_CASH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(cash__gte=0), name="portfolio_cash_not_negative")]

    def __str__(self) -> str:
        return f"Portfolio of {self.user}"


class Position(models.Model):
    """An open holding. A position that reaches zero is deleted, so every row here is open."""

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="positions")
    ticker = ticker_field()
    quantity = quantity_field()
    avg_cost = price_field()
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["portfolio", "ticker"]
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "ticker"], name="position_unique_ticker"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="position_quantity_positive"),
            models.CheckConstraint(condition=Q(avg_cost__gte=0), name="position_avg_cost_not_negative"),
            ticker_constraint("position"),
        ]
        indexes = [models.Index(fields=["ticker"], name="position_ticker")]

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} {self.ticker}"


class Trade(models.Model):
    """One filled market order. Append-only: an existing trade is never changed."""

    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="trades")
    ticker = ticker_field()
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = quantity_field()
    price = price_field()
    notional = money_field(help_text="quantity x price to the cent: rounded up for a buy, down for a sell")
    realized_pnl = money_field(null=True, blank=True, help_text="sells only: proceeds - quantity x avg cost")
    cash_after = money_field()
    executed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-executed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="trade_side_valid"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="trade_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gte=0), name="trade_price_not_negative"),
            models.CheckConstraint(condition=Q(cash_after__gte=0), name="trade_cash_after_not_negative"),
            ticker_constraint("trade"),
        ]
        indexes = [models.Index(fields=["portfolio", "-executed_at"], name="trade_portfolio_time")]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity.normalize():f} {self.ticker} @ {self.price.normalize():f}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Trades are an append-only log: an existing trade cannot be changed.")
        super().save(*args, **kwargs)


class PortfolioSnapshot(models.Model):
    """The value of a portfolio at one moment, for the value-over-time chart."""

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="snapshots")
    recorded_at = models.DateTimeField(default=timezone.now)
    total_value = money_field()
    cash = money_field()

    class Meta:
        ordering = ["portfolio", "recorded_at", "id"]
        indexes = [
            models.Index(fields=["portfolio", "-recorded_at"], name="snapshot_portfolio_time"),
            # The retention prune deletes by age across all portfolios.
            models.Index(fields=["recorded_at"], name="snapshot_time"),
        ]

    def __str__(self) -> str:
        return f"{self.portfolio} at {self.recorded_at:%Y-%m-%d %H:%M:%S}: {self.total_value}"


class Order(models.Model):
    """An order and its whole life: placed (``open``), then ``filled``, ``cancelled``, ``expired`` or
    ``rejected`` (with its ``reason``), never reopened.

    Only ``portfolio.orders.services`` changes an order, always with a conditional update on
    ``status='open'`` (or the order's row locked), so an order leaves ``open`` exactly once. While open,
    a buy holds ``reserved_cash`` and a sell holds its quantity of shares (see ``services.fill``).
    ``updated_at`` moves with every change: the order engine re-reads orders changed since its last read.
    """

    class Type(models.TextChoices):
        MARKET = "market", "Market"
        LIMIT = "limit", "Limit"
        STOP = "stop", "Stop"
        STOP_LIMIT = "stop_limit", "Stop limit"

    class TimeInForce(models.TextChoices):
        DAY = "day", "Day"
        GTC = "gtc", "Good till cancelled"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FILLED = "filled", "Filled"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"
        REJECTED = "rejected", "Rejected"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="orders")
    ticker = ticker_field()
    side = models.CharField(max_length=4, choices=Trade.Side.choices)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.MARKET)
    quantity = quantity_field()
    limit_price = price_field(null=True, blank=True)
    stop_price = price_field(null=True, blank=True)
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices, default=TimeInForce.DAY)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.OPEN)
    reserved_cash = money_field(
        default=Decimal("0.00"),
        help_text="buys: quantity x limit price (x stop price for a stop order), rounded up to the cent; "
        "held while the order is open",
    )
    triggered_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="stop-limit orders: when the stop triggered (it then rests as a limit)",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="day orders: the next 16:00 New York")
    filled_at = models.DateTimeField(null=True, blank=True)
    fill_price = price_field(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    trade = models.OneToOneField(Trade, null=True, blank=True, on_delete=models.CASCADE, related_name="order")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="order_side_valid"),
            models.CheckConstraint(
                condition=Q(type__in=["market", "limit", "stop", "stop_limit"]), name="order_type_valid"
            ),
            models.CheckConstraint(condition=Q(time_in_force__in=["day", "gtc"]), name="order_tif_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "filled", "cancelled", "expired", "rejected"]),
                name="order_status_valid",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(
                condition=Q(limit_price__isnull=True) | Q(limit_price__gt=0),
                name="order_limit_price_positive",
            ),
            models.CheckConstraint(
                condition=Q(stop_price__isnull=True) | Q(stop_price__gt=0), name="order_stop_price_positive"
            ),
            models.CheckConstraint(
                condition=(
                    Q(type="market", limit_price__isnull=True, stop_price__isnull=True)
                    | Q(type="limit", limit_price__isnull=False, stop_price__isnull=True)
                    | Q(type="stop", limit_price__isnull=True, stop_price__isnull=False)
                    | Q(type="stop_limit", limit_price__isnull=False, stop_price__isnull=False)
                ),
                name="order_prices_fit_type",
                violation_error_message="Limit orders need a limit price, stop orders a stop price, "
                "stop-limit orders both, market orders neither.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        status="filled",
                        fill_price__isnull=False,
                        fill_price__gt=0,
                        filled_at__isnull=False,
                        trade__isnull=False,
                    )
                    | (
                        ~Q(status="filled")
                        & Q(fill_price__isnull=True, filled_at__isnull=True, trade__isnull=True)
                    )
                ),
                name="order_filled_iff_fill",
                violation_error_message="A filled order has a fill price, a fill time and a trade; "
                "no other order has them.",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reason=""), name="order_rejected_has_reason"
            ),
            models.CheckConstraint(
                condition=~Q(time_in_force="day") | Q(expires_at__isnull=False), name="order_day_expires"
            ),
            models.CheckConstraint(
                condition=Q(reserved_cash__gte=0) & (Q(side="buy") | Q(reserved_cash=0)),
                name="order_reserved_cash_valid",
            ),
            models.CheckConstraint(
                condition=Q(triggered_at__isnull=True) | Q(type="stop_limit"),
                name="order_triggered_only_stop_limit",
            ),
            ticker_constraint("order"),
        ]
        indexes = [
            models.Index(fields=["portfolio", "-created_at"], name="order_portfolio_time"),
            # Reservations and the open-order limit read a portfolio's open orders.
            models.Index(
                fields=["portfolio", "side"], condition=Q(status="open"), name="order_open_portfolio"
            ),
            models.Index(fields=["ticker"], condition=Q(status="open"), name="order_open_ticker"),
            models.Index(fields=["updated_at"], name="order_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity.normalize():f} {self.ticker} {self.type} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN
