"""/api/orders/ and /api/orders/<id>/: the user's orders, placing and cancelling them (CONTRACT.md
"Orders")."""

from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from portfolio import selectors
from portfolio.events import order_payload
from portfolio.money import format_money
from portfolio.orders import services as orders

from .bodies import Fields, NumberOrText
from .errors import ApiError, documented

router = Router(tags=["orders"])


class OrderOut(Schema):
    """ORDER: decimals as strings, null where not set, times ISO 8601 UTC."""

    id: int
    ticker: str
    side: Literal["buy", "sell"]
    type: Literal["market", "limit", "stop", "stop_limit"]
    quantity: str
    limit_price: str | None
    stop_price: str | None
    time_in_force: Literal["day", "gtc"]
    status: Literal["open", "filled", "cancelled", "expired", "rejected"]
    created_at: str
    filled_at: str | None
    fill_price: str | None
    reason: str | None


class OrderListOut(Schema):
    orders: list[OrderOut]


class OneOrderOut(Schema):
    order: OrderOut


class PlacedOut(Schema):
    order: OrderOut
    cash: str


class OrderIn(Schema):
    ticker: str = Field(description="1 to 10 of A-Z, 0-9, '.' or '-' (any case, spaces stripped)")
    side: str = Field(description="buy or sell")
    quantity: NumberOrText = Field(description="more than 0, at most 6 decimal places")
    type: str | None = Field(None, description="market (default), limit, stop or stop_limit")
    limit_price: NumberOrText | None = Field(
        None, description="limit and stop_limit orders only; more than 0"
    )
    stop_price: NumberOrText | None = Field(None, description="stop and stop_limit orders only; more than 0")
    time_in_force: str | None = Field(
        None, description="day (default: expires at the next 16:00 New York) or gtc"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"ticker": "AAPL", "side": "buy", "quantity": "10", "type": "limit", "limit_price": "185.00"}
            ]
        }
    }


class StatusQuery(Schema):
    status: str = Field("open", description="open (default), all, filled, cancelled, expired or rejected")


def _order(request: HttpRequest, order_id: int):
    try:
        return orders.find_order(request.user, order_id)
    except orders.OrderNotFound as exc:
        raise ApiError(str(exc), 404) from None


@router.get("/", response={200: OrderListOut, **documented(400, 401)}, url_name="orders")
def list_orders(request, filters: Query[StatusQuery]):
    """The user's orders, newest first (the latest 500): ``?status=open`` by default."""
    status = filters.status.strip().lower()
    if status not in orders.STATUS_FILTERS:
        allowed = ", ".join(orders.STATUS_FILTERS)
        raise ApiError(f"Query parameter 'status' must be one of {allowed}; got {filters.status[:20]!r}.")
    return {"orders": [order_payload(order) for order in selectors.orders_for(request.user, status)]}


@router.post("/", response={201: PlacedOut, **documented(400, 401, 403)}, url_name="orders-place")
def place_order(request, payload: Fields[OrderIn]):
    """Place an order; 201 with it and the cash after it (a market order, or a limit or stop order whose
    price is already there, is filled at once). 400, nothing changed, for anything refused: a bad
    field, prices missing or not taken by the type, not enough buying power or shares, no live price
    for a market order, too many open orders."""
    order = orders.place_order(
        request.user,
        payload.ticker,
        payload.side,
        payload.quantity,
        type=payload.type,
        limit_price=payload.limit_price,
        stop_price=payload.stop_price,
        time_in_force=payload.time_in_force,
    )
    cash = selectors.portfolio_for(request.user).cash
    return Status(201, {"order": order_payload(order), "cash": format_money(cash)})


@router.get("/{int:id}/", response={200: OneOrderOut, **documented(400, 401, 404)}, url_name="order")
def get_order(request, id: int):
    """One of the user's orders (404 when it is not theirs)."""
    return {"order": order_payload(_order(request, id))}


@router.delete(
    "/{int:id}/", response={200: OneOrderOut, **documented(400, 401, 403, 404, 409)}, url_name="order-cancel"
)
def cancel_order(request, id: int):
    """Cancel an open order: its cash or shares are available again at once. 404 when it is not the
    user's; 409 when it is no longer open (filled, cancelled, expired or rejected)."""
    _order(request, id)
    try:
        order = orders.cancel_order(request.user, id)
    except orders.OrderNotOpen as exc:
        raise ApiError(str(exc), 409) from None
    return {"order": order_payload(order)}
