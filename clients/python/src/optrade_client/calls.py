"""The service operations this client calls: what each sends and how its answer is read.

The sync and the async client share this one implementation (sans-IO): each method of
`Optrade` and `AsyncOptrade` builds a `Request` here, sends it with its own HTTP client and
parses the answer with the `Request`'s parser. `OPERATIONS` names each by the services' OpenAPI
`operationId`, and a test checks method, path and parameters against the documents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, Required, TypedDict, TypeVar, Unpack

import httpx

from optrade_client._transport import new_idempotency_key
from optrade_client.errors import NotFound
from optrade_client.export import arrow_table
from optrade_client.models import (
    Account,
    AtmSymbols,
    Chain,
    CloseResult,
    Model,
    Order,
    Position,
    QualityRun,
    QualityStatus,
    Quote,
    Strategy,
    Trade,
)

T = TypeVar("T")
M = TypeVar("M", bound=Model)
PAGE_SIZE = 200
TOTAL_COUNT_HEADER = "X-Total-Count"

# operationId -> (service, method, path template): every operation is called by its published,
# explicit operationId (the services' contract test lists them all).
OPERATIONS: dict[str, tuple[str, str, str]] = {
    "placeOrder": ("order", "POST", "/v1/orders"),
    "getOrder": ("order", "GET", "/v1/orders/{order_id}"),
    "listOrders": ("order", "GET", "/v1/orders"),
    "cancelOrder": ("order", "POST", "/v1/orders/{order_id}/cancel"),
    "modifyOrder": ("order", "PATCH", "/v1/orders/{order_id}"),
    "closePosition": ("order", "POST", "/v1/positions/{position_id}/close"),
    "setPositionExits": ("order", "PUT", "/v1/positions/{position_id}/exits"),
    "advanceEngine": ("order", "POST", "/v1/engine/advance"),
    "getExportManifest": ("order", "GET", "/v1/trades/export/manifest"),
    "runSettlement": ("order", "POST", "/v1/settlements/run"),
    "getPosition": ("order", "GET", "/v1/positions/{position_id}"),
    "listPositions": ("order", "GET", "/v1/positions"),
    "listTrades": ("order", "GET", "/v1/trades"),
    "exportTrades": ("order", "GET", "/v1/trades/export"),
    "backfillSnapshots": ("order", "POST", "/v1/trades/backfill"),
    "getQuote": ("market-data", "GET", "/v1/quote/{underlying}"),
    "getChain": ("market-data", "GET", "/v1/chain/{underlying}"),
    "getQualityStatus": ("quality", "GET", "/quality/status"),
    "runQualityCheck": ("quality", "POST", "/quality/checks"),
    "getQualityRun": ("quality", "GET", "/quality/runs/{run_id}"),
    "getAccount": ("order", "GET", "/v1/accounts/{account}"),
    "setAccountCapital": ("order", "PUT", "/v1/accounts/{account}"),
    "checkMargin": ("order", "POST", "/v1/margins"),
    "exportQualityRunTrades": ("quality", "GET", "/quality/runs/{run_id}/trades"),
    "listInstants": ("market-data", "GET", "/v1/replay/instants"),
    "compareModels": ("order", "GET", "/v1/models/compare"),
    "gateModel": ("order", "GET", "/v1/models/gate"),
    "openStrategy": ("order", "POST", "/v1/strategies"),
    "getStrategy": ("order", "GET", "/v1/strategies/{strategy_id}"),
    "closeStrategy": ("order", "POST", "/v1/strategies/{strategy_id}/close"),
}
MUTATING = frozenset({"placeOrder", "cancelOrder", "modifyOrder", "closePosition",
                      "setPositionExits", "advanceEngine", "backfillSnapshots", "runQualityCheck",
                      "runSettlement", "setAccountCapital", "openStrategy",
                      "closeStrategy"})  # fmt: skip

Instant = date | datetime | str


@dataclass(frozen=True)
class Call:
    """One request: which operation, its path values, query and JSON body."""

    operation: str
    path_values: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    idempotency_key: str | None = None

    @property
    def spec(self) -> tuple[str, str, str]:
        return OPERATIONS[self.operation]

    @property
    def service(self) -> str:
        return self.spec[0]

    @property
    def method(self) -> str:
        return self.spec[1]

    @property
    def path(self) -> str:
        return self.spec[2].format(**{k: str(v) for k, v in self.path_values.items()})

    def query(self) -> dict[str, str]:
        return {k: _text(v) for k, v in self.params.items() if v is not None}

    def headers(self) -> dict[str, str]:
        """`Idempotency-Key` on mutating calls: the given one, else one made for this call."""
        if self.operation not in MUTATING:
            return {}
        return {"Idempotency-Key": self.idempotency_key or new_idempotency_key()}


def _text(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def body_of(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields that are set."""
    return {k: _json(v) for k, v in fields.items() if v is not None}


class OrderFields(TypedDict, total=False):
    """What `open` takes: a contract (`symbol`, or its four parts), a size (`lots` or `units`)
    and the model's signal; `as_of` replays a past market instant."""

    side: Required[str]
    ml_score: Required[float]
    model_version: Required[str]
    model_hash: Required[str]
    features: Required[Mapping[str, Any]]
    symbol: str | None
    underlying: str | None
    expiry: date | str | None
    strike: float | Decimal | None
    option_type: str | None
    lots: int | None
    units: int | None
    client_order_id: str | None
    as_of: Instant | None
    account: str
    idempotency_key: str | None
    # The venue (docs/matching.md): MARKET (default) | LIMIT | SL | SL-M, and their prices.
    order_type: str | None
    price: Decimal | float | str | None
    trigger_price: Decimal | float | str | None
    product: str | None  # MIS (squared off at 15:15 IST) | NRML (default: held to expiry)
    validity: str | None  # DAY (default) | IOC
    # Exits of the position the order opens: premiums, points, an instant.
    stop_loss: Decimal | float | str | None
    target: Decimal | float | str | None
    trailing_stop: Decimal | float | str | None
    exit_at: Instant | None


class ExitFields(TypedDict, total=False):
    """What `set_exits` takes: every exit of the position (absent: none), and `as_of` for a
    replay position."""

    stop_loss: Decimal | float | str | None
    target: Decimal | float | str | None
    trailing_stop: Decimal | float | str | None
    exit_at: Instant | None
    as_of: Instant | None


class StrategyFields(TypedDict, total=False):
    """What `strategy` takes besides its name: the underlying, the legs (dicts, or the text
    "SELL OTM2 CE 1,BUY OTM6 CE 1"), the model's signal once for all legs, and optionally the
    expiry (default the nearest), product, account, exits on the P&L and `as_of`."""

    underlying: Required[str]
    legs: Required[str | Sequence[Mapping[str, Any]]]
    ml_score: Required[float]
    model_version: Required[str]
    model_hash: Required[str]
    features: Required[Mapping[str, Any]]
    expiry: date | str | None
    product: str | None
    account: str | None
    stop_loss_pnl: Decimal | float | str | None
    target_pnl: Decimal | float | str | None
    exit_at: Instant | None
    as_of: Instant | None
    idempotency_key: str | None


class CloseFields(TypedDict, total=False):
    """What `close` takes: `lots` or `units` (default: all that is open) and the exit's facts."""

    lots: int | None
    units: int | None
    exit_price: Decimal | float | str | None
    reason: str | None
    as_of: Instant | None
    idempotency_key: str | None


# --- the operations: one request builder and one answer parser each ---------------------------
# `Optrade` sends a `Request` and parses its answer synchronously, `AsyncOptrade` awaits the same
# `Request`; neither holds any logic of its own besides sending.


@dataclass(frozen=True)
class Request(Generic[T]):
    """A call and how to read its answer."""

    call: Call
    parse: Callable[[httpx.Response], T]


def _json_object(response: httpx.Response) -> dict[str, Any]:
    result: dict[str, Any] = response.json()
    return result


def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.parse(response.json())


def place_order(**order: Unpack[OrderFields]) -> Request[Order]:
    """`POST /v1/orders`: the one place that knows what placing an order sends and answers."""
    fields: dict[str, Any] = dict(order)
    key = fields.pop("idempotency_key", None) or new_idempotency_key()
    fields["features_snapshot"] = dict(fields.pop("features"))
    return Request(Call("placeOrder", body=body_of(**fields), idempotency_key=key), _model(Order))


def close_position(position_id: int, **close: Unpack[CloseFields]) -> Request[CloseResult]:
    fields: dict[str, Any] = dict(close)
    key = fields.pop("idempotency_key", None) or new_idempotency_key()
    call = Call(
        "closePosition",
        path_values={"position_id": position_id},
        body=body_of(**fields),
        idempotency_key=key,
    )
    return Request(call, _model(CloseResult))


def cancel_order(order_id: int) -> Request[Order]:
    """`POST /v1/orders/{id}/cancel`: an open or trigger_pending order."""
    return Request(Call("cancelOrder", path_values={"order_id": order_id}), _model(Order))


def modify_order(
    order_id: int,
    *,
    price: Decimal | float | str | None = None,
    trigger_price: Decimal | float | str | None = None,
    lots: int | None = None,
) -> Request[Order]:
    """`PATCH /v1/orders/{id}`: a pending order's new price, trigger_price or lots."""
    body = body_of(price=price, trigger_price=trigger_price, lots=lots)
    call = Call("modifyOrder", path_values={"order_id": order_id}, body=body)
    return Request(call, _model(Order))


def set_exits(position_id: int, **exits: Unpack[ExitFields]) -> Request[Position]:
    """`PUT /v1/positions/{id}/exits`: replace the position's exits."""
    call = Call("setPositionExits", path_values={"position_id": position_id}, body=body_of(**exits))
    return Request(call, _model(Position))


def advance(until: Instant) -> Request[dict[str, Any]]:
    """`POST /v1/engine/advance`: walk the replayed market up to `until`."""
    return Request(Call("advanceEngine", body=body_of(until=until)), _json_object)


def parse_legs(text: str) -> list[dict[str, Any]]:
    """Legs from "SIDE CONTRACT TYPE LOTS" separated by commas: the contract is an offset
    (ATM, ITM2, OTM6) or a strike (26000), e.g. "SELL OTM2 CE 1,BUY OTM6 CE 1"."""
    legs = []
    for index, part in enumerate(p for p in text.split(",") if p.strip()):
        words = part.split()
        if len(words) != 4:
            raise ValueError(f"leg {index}: {part.strip()!r} is not 'SIDE OFFSET|STRIKE TYPE LOTS'")
        side, contract, option_type, lots = words
        leg: dict[str, Any] = {"side": side.upper(), "option_type": option_type.upper()}
        try:
            leg["lots"] = int(lots)
        except ValueError:
            raise ValueError(f"leg {index}: lots {lots!r} is not a whole number") from None
        key = "strike" if contract.replace(".", "", 1).isdigit() else "offset"
        leg[key] = contract.upper()
        legs.append(leg)
    return legs


def open_strategy(name: str, **strategy: Unpack[StrategyFields]) -> Request[Strategy]:
    """`POST /v1/strategies`: every leg from one chain observation, all filled or none."""
    fields: dict[str, Any] = dict(strategy)
    key = fields.pop("idempotency_key", None) or new_idempotency_key()
    fields["features_snapshot"] = dict(fields.pop("features"))
    legs = fields.pop("legs")
    fields["legs"] = parse_legs(legs) if isinstance(legs, str) else [dict(leg) for leg in legs]
    body = body_of(strategy=name, **fields)
    return Request(Call("openStrategy", body=body, idempotency_key=key), _model(Strategy))


def get_strategy(strategy_id: int, as_of: Instant | None = None) -> Request[Strategy]:
    params = body_of(as_of=as_of)
    call = Call("getStrategy", path_values={"strategy_id": strategy_id}, params=params)
    return Request(call, _model(Strategy))


def close_strategy(
    strategy_id: int, *, reason: str | None = None, as_of: Instant | None = None
) -> Request[Strategy]:
    call = Call(
        "closeStrategy",
        path_values={"strategy_id": strategy_id},
        body=body_of(reason=reason, as_of=as_of),
        idempotency_key=new_idempotency_key(),
    )
    return Request(call, _model(Strategy))


def get_position(position_id: int) -> Request[Position]:
    return Request(Call("getPosition", path_values={"position_id": position_id}), _model(Position))


def get_order(order_id: int | None, client_order_id: str | None) -> Request[Order]:
    if (order_id is None) == (client_order_id is None):
        raise ValueError("give an order id or a client_order_id, not both or neither")
    if order_id is not None:
        return Request(Call("getOrder", path_values={"order_id": order_id}), _model(Order))
    call = Call("listOrders", params={"client_order_id": client_order_id})

    def first(response: httpx.Response) -> Order:
        items = response.json()["items"]
        if not items:
            detail = f"no order has client_order_id {client_order_id!r}"
            raise NotFound(404, "/problems/not-found", "Not found", detail)
        return Order.parse(items[0])

    return Request(call, first)


def list_orders(*, status: str | None = None, page_size: int = PAGE_SIZE) -> Pages[Order]:
    """Orders, newest first (optionally one status: open, complete, cancelled, ...)."""
    return Pages("listOrders", {"status": status}, Order, page_size)


def get_quote(
    underlying: str,
    *,
    strike: float,
    option_type: str,
    expiry: date | str | None = None,
    as_of: Instant | None = None,
) -> Request[Quote]:
    params = {"strike": strike, "option_type": option_type, "expiry": expiry, "as_of": as_of}
    call = Call("getQuote", path_values={"underlying": underlying}, params=params)
    return Request(call, _model(Quote))


def get_chain(
    underlying: str, *, expiry: date | str | None = None, as_of: Instant | None = None
) -> Request[Chain]:
    params = {"expiry": expiry, "as_of": as_of}
    call = Call("getChain", path_values={"underlying": underlying}, params=params)
    return Request(call, _model(Chain))


def atm_symbols(
    underlying: str, *, expiry: date | str | None = None, as_of: Instant | None = None
) -> Request[AtmSymbols]:
    """The at-the-money call and put of an expiry (default: the nearest listed one)."""
    chain = get_chain(underlying, expiry=expiry, as_of=as_of)
    return Request(chain.call, lambda response: AtmSymbols.of(chain.parse(response)))


def quality_status() -> Request[QualityStatus]:
    return Request(Call("getQualityStatus"), _model(QualityStatus))


def run_quality_check(
    lookback_days: int = 1,
    *,
    from_: Instant | None = None,
    to: Instant | None = None,
    mode: str | None = None,
) -> Request[QualityRun]:
    """Run the checks over the last `lookback_days` days, or over `from_`..`to` (both or
    neither), counting trades of `mode` (live, replay or all; the service's default: live)."""
    params = {"lookback_days": lookback_days, "from": from_, "to": to, "mode": mode}
    return Request(Call("runQualityCheck", params=params), _model(QualityRun))


def quality_run_trades(run_id: int) -> Request[str]:
    """The trades a stored run counted, exactly, as CSV text (certified by a passing run)."""
    call = Call("exportQualityRunTrades", path_values={"run_id": run_id}, params={"format": "csv"})
    return Request(call, lambda response: response.text)


def quality_report(run_id: int) -> Request[str]:
    call = Call("getQualityRun", path_values={"run_id": run_id}, params={"format": "text"})
    return Request(call, lambda response: response.text)


def export_table(
    *,
    from_: Instant | None = None,
    to: Instant | None = None,
    model_version: str | None = None,
    as_: str = "pandas",
) -> Request[Any]:
    """The training export as a pandas.DataFrame (`as_="pandas"`) or a pyarrow.Table."""

    def parse(response: httpx.Response) -> Any:
        table = arrow_table(response.content)
        return table.to_pandas() if as_ == "pandas" else table

    return Request(export_call(from_=from_, to=to, model_version=model_version), parse)


def export_call(
    *, from_: Instant | None = None, to: Instant | None = None, model_version: str | None = None
) -> Call:
    """The export as an Arrow stream, for the clients to write batch by batch (`export_to`)."""
    params = {**window(from_=from_, to=to, model_version=model_version), "format": "arrow"}
    return Call("exportTrades", params=params)


def export_total(response: httpx.Response) -> int:
    """The rows the server counted when the export started."""
    return int(response.headers.get(TOTAL_COUNT_HEADER, "0"))


def manifest() -> Request[dict[str, Any]]:
    return Request(Call("getExportManifest"), _json_object)


def backfill(*, limit: int = 500, after_id: int = 0) -> Request[dict[str, Any]]:
    call = Call("backfillSnapshots", params={"limit": limit, "after_id": after_id})
    return Request(call, _json_object)


def settle(expiry: date | str | None = None) -> Request[dict[str, Any]]:
    return Request(Call("runSettlement", params={"expiry": expiry}), _json_object)


def account(name: str = "default") -> Request[Account]:
    return Request(Call("getAccount", path_values={"account": name}), _model(Account))


def set_capital(name: str, capital: Decimal | int | str) -> Request[Account]:
    call = Call("setAccountCapital", path_values={"account": name},
                body={"capital": str(capital)})  # fmt: skip
    return Request(call, _model(Account))


def margin(
    legs: list[dict[str, Any]], *, account: str = "default", as_of: Instant | None = None
) -> Request[dict[str, Any]]:
    """`POST /v1/margins`: legs `{"symbol", "side", "lots"}`; the basket with the account's
    positions (`margin`, `span`, `exposure`, `premium`, `worst_scenario`) and alone (`basket`)."""
    body = body_of(account=account, as_of=as_of, legs=[dict(leg) for leg in legs])
    return Request(Call("checkMargin", body=body), _json_object)


def replay_instants(
    underlying: str, *, from_: Instant | None = None, to: Instant | None = None
) -> Request[list[datetime]]:
    """The snapshot instants of a replay market from `from_` to `to` (inclusive), ascending:
    the observations a backtest walks (market data's `GET /v1/replay/instants`)."""
    params = {"underlying": underlying, "from": from_, "to": to}

    def instants(response: httpx.Response) -> list[datetime]:
        return [datetime.fromisoformat(i.replace("Z", "+00:00"))
                for i in response.json()["instants"]]  # fmt: skip

    return Request(Call("listInstants", params=params), instants)


@dataclass(frozen=True)
class Pages(Generic[M]):
    """A listing fetched page by page: the next page's call from the last page's answer."""

    operation: str
    params: Mapping[str, Any]
    model: type[M]
    size: int = PAGE_SIZE

    def call(self, offset: int) -> Call:
        return Call(self.operation, params={**self.params, "limit": self.size, "offset": offset})

    def read(self, response: httpx.Response, offset: int) -> tuple[list[M], int | None]:
        """The page's records and the next page's offset (None after the last page)."""
        page = response.json()
        items = [self.model.parse(item) for item in page["items"]]
        following = offset + len(items)
        return items, (following if items and following < page["total"] else None)


def list_positions(
    *,
    status: str | None = None,
    underlying: str | None = None,
    model_version: str | None = None,
    from_: Instant | None = None,
    to: Instant | None = None,
    page_size: int = PAGE_SIZE,
) -> Pages[Position]:
    params = window(from_=from_, to=to, underlying=underlying, model_version=model_version)
    return Pages("listPositions", {**params, "status": status}, Position, page_size)


def list_trades(
    *,
    underlying: str | None = None,
    model_version: str | None = None,
    from_: Instant | None = None,
    to: Instant | None = None,
    page_size: int = PAGE_SIZE,
) -> Pages[Trade]:
    params = window(from_=from_, to=to, underlying=underlying, model_version=model_version)
    return Pages("listTrades", params, Trade, page_size)


def window(
    *,
    from_: Instant | None,
    to: Instant | None,
    underlying: str | None = None,
    model_version: str | None = None,
) -> dict[str, Any]:
    return {"from": from_, "to": to, "underlying": underlying, "model_version": model_version}
