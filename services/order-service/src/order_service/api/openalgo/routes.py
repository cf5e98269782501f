"""OpenAlgo's REST surface at `/api/v1/`, as the `openalgo` SDK sends it: JSON `POST`, the key in
the body (`apikey`), numbers as strings; answered as OpenAlgo answers (`{"status": "success",
...}` or `{"status": "error", "message": ...}` with OpenAlgo's HTTP codes).

Thin: each route checks the key, validates the body and calls one function of
`order_service.application.openalgo`. The key is compared in constant time with the service's
`API_KEY` (the bearer key of our own API) and never logged.

Not in the OpenAPI document (`include_in_schema=False`): the contract of these paths is
OpenAlgo's (docs/openalgo.md maps it); our generated clients and the schema fuzzing speak our
own API, and OpenAlgo's loosely typed bodies (numbers as strings, extra keys ignored) would only
blur that document.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from optrade.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unsupported,
    UpstreamUnavailable,
)
from optrade.settings import get_app_settings
from order_service.api.deps import (
    MarketClockDep,
    MarketDataDep,
    RepositoryDep,
    SettingsDep,
    price_bounds,
)
from order_service.application import openalgo
from order_service.application.openalgo import Venue

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["openalgo"], include_in_schema=False)
B = TypeVar("B", bound=BaseModel)
INVALID_KEY = "Invalid openalgo apikey"
# A domain error as OpenAlgo answers its kind: validation 400, key 403, unknown order 404,
# the broker (here: market data) failing 500, a feature this venue lacks 501.
STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404), (Unauthorized, 403), (PayloadTooLarge, 413),
    (UpstreamUnavailable, 500), (Unsupported, 501), (InvalidInput, 400), (Conflict, 400),
)  # fmt: skip


async def _venue(
    repository: RepositoryDep, market_data: MarketDataDep, clock: MarketClockDep,
    settings: SettingsDep,
) -> Venue:  # fmt: skip
    return Venue(repository, market_data, clock, settings.square_off_time,
                 price_bounds(settings), settings.capture_enabled)  # fmt: skip


VenueDep = Annotated[Venue, Depends(_venue)]


def error(message: Any, status: int) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


def _status(exc: DomainError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)


def _key_matches(given: Any) -> bool:
    configured = get_app_settings().api_key
    if configured is None or not configured.get_secret_value() or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), configured.get_secret_value().encode())


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    """Field -> reasons, as OpenAlgo's schemas (marshmallow) name them."""
    found: dict[str, list[str]] = {}
    for issue in exc.errors():
        field = ".".join(str(part) for part in issue["loc"]) or "body"
        found.setdefault(field, []).append(issue["msg"])
    return found


async def answer(
    request: Request, model: type[B], use_case: Callable[[B], Awaitable[dict[str, Any]]]
) -> JSONResponse:
    """Check the key, validate the body as `model`, run the use case; OpenAlgo's shapes out."""
    try:
        body = await request.json()
    except ValueError:
        return error("Request body must be JSON", 400)
    if not isinstance(body, dict):
        return error("Request body must be a JSON object", 400)
    if not _key_matches(body.pop("apikey", None)):
        return error(INVALID_KEY, 403)
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        return error(str(_messages(exc)), 400)
    try:
        return JSONResponse(await use_case(parsed))
    except DomainError as exc:
        return error(exc.detail, _status(exc))
    except ValidationError as exc:  # the order as ours: a price off the tick, empty features
        return error(str(_messages(exc)), 400)


class _KeyOnly(BaseModel):
    """A body with nothing but the key (extra keys ignored)."""


def _post(
    path: str, model: type[B], use_case: Callable[[Venue, B], Awaitable[dict[str, Any]]]
) -> None:
    async def endpoint(request: Request, venue: VenueDep) -> JSONResponse:
        return await answer(request, model, lambda body: use_case(venue, body))

    endpoint.__name__ = f"openalgo_{path.replace('/', '_')}"
    router.add_api_route(f"/{path}", endpoint, methods=["POST"], name=endpoint.__name__)


async def _funds(venue: Venue, _: _KeyOnly) -> dict[str, Any]:
    return await openalgo.funds(venue)


async def _analyzer(venue: Venue, _: _KeyOnly) -> dict[str, Any]:
    return openalgo.analyzer_status()


async def _analyzer_toggle(venue: Venue, _: _KeyOnly) -> dict[str, Any]:
    raise InvalidInput("mode", "this venue is a paper venue: analyze mode only")


for _path, _model, _use_case in (
    ("placeorder", openalgo.PlaceOrderBody, openalgo.place),
    ("placesmartorder", openalgo.SmartOrderBody, openalgo.place_smart),
    ("optionsorder", openalgo.OptionsOrderBody, openalgo.options_order),
    ("optionsmultiorder", openalgo.OptionsMultiOrderBody, openalgo.options_multi_order),
    ("basketorder", openalgo.BasketOrderBody, openalgo.basket),
    ("modifyorder", openalgo.ModifyOrderBody, openalgo.modify),
    ("cancelorder", openalgo.OrderIdBody, openalgo.cancel),
    ("cancelallorder", openalgo.StrategyBody, openalgo.cancel_all),
    ("closeposition", openalgo.StrategyBody, openalgo.close_strategy),
    ("orderstatus", openalgo.OrderIdBody, openalgo.order_status),
    ("openposition", openalgo.OpenPositionBody, openalgo.open_position),
    ("orderbook", openalgo.BookBody, openalgo.order_book),
    ("tradebook", openalgo.BookBody, openalgo.trade_book),
    ("positionbook", openalgo.BookBody, openalgo.position_book),
    ("funds", _KeyOnly, _funds),
    ("margin", openalgo.MarginBody, openalgo.margin),
    ("optionchain", openalgo.OptionChainBody, openalgo.option_chain),
    ("optiongreeks", openalgo.SymbolBody, openalgo.option_greeks),
    ("optionsymbol", openalgo.OptionSymbolBody, openalgo.option_symbol),
    ("quotes", openalgo.SymbolBody, openalgo.quotes),
    ("expiry", openalgo.ExpiryBody, openalgo.expiries),
    ("analyzer", _KeyOnly, _analyzer),
    ("analyzer/toggle", _KeyOnly, _analyzer_toggle),
):
    _post(_path, _model, _use_case)  # type: ignore[arg-type]
