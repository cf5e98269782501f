"""`Optrade` and `AsyncOptrade`: the platform's operations as methods.

with Optrade(api_key="...") as optrade:          # local ports 8000 / 8001 / 8003
    position = optrade.open(symbol="NIFTY06JAN2626000CE", side="BUY", lots=2, ml_score=0.8,
                            model_version="v1", model_hash="9f2c4e1a", features={"rsi": 61})
    optrade.close(position.id, lots=1, reason="target")
    for trade in optrade.trades(model_version="v1"):
        print(trade.symbol, trade.pnl)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import date
from typing import Any, Unpack

import httpx

from optrade_client import calls
from optrade_client._transport import (
    RETRY_STATUSES,
    Attempts,
    RetryPolicy,
    give_up,
    raise_for_problem,
    retry_after_seconds,
    service_urls,
)
from optrade_client.calls import Call, CloseFields, Instant, OrderFields
from optrade_client.export import ExportProgress, arrow_table, write_stream
from optrade_client.models import (
    Chain,
    CloseResult,
    Position,
    QualityRun,
    QualityStatus,
    Quote,
    Trade,
)

PAGE_SIZE = 200
TOTAL_COUNT_HEADER = "X-Total-Count"


class _Base:
    def __init__(
        self,
        base_url: str | Mapping[str, str] | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.urls = service_urls(base_url)
        self.retry = retry or RetryPolicy()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout

    def _url(self, call: Call) -> str:
        return self.urls[call.service] + call.path

    def _request_args(self, call: Call) -> dict[str, Any]:
        return {
            "method": call.method,
            "url": self._url(call),
            "params": call.query(),
            "json": call.body,
            "headers": {**self._headers, **call.headers()},
        }


class Optrade(_Base):
    """The synchronous client; use it as a context manager or call `disconnect()`."""

    def __init__(
        self,
        base_url: str | Mapping[str, str] | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, retry=retry)
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def __enter__(self) -> Optrade:
        return self

    def __exit__(self, *_: object) -> None:
        self.disconnect()

    def disconnect(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def send(self, call: Call) -> httpx.Response:
        """Send a call, retrying 503/429 and lost connections within the retry budget."""
        args = self._request_args(call)  # one Idempotency-Key for every try of this call
        attempts = Attempts(self.retry)
        while True:
            retry_after = None
            try:
                response = self._http.request(**args)
            except httpx.TransportError as exc:
                last: httpx.Response | Exception = exc
            else:
                if response.status_code not in RETRY_STATUSES:
                    raise_for_problem(response)
                    return response
                last, retry_after = response, retry_after_seconds(response)
            delay = attempts.next_delay(retry_after)
            if delay is None:
                raise give_up(last)
            time.sleep(delay)

    # --- orders and positions ------------------------------------------------------------------

    def open(self, **order: Unpack[OrderFields]) -> Position:
        """Open a paper position; see `calls.place_order` for the fields."""
        return Position.parse(self.send(calls.place_order(**order)).json())

    def close(self, position_id: int, **close: Unpack[CloseFields]) -> CloseResult:
        """Close all of a position, or `lots` / `units` of it."""
        return CloseResult.parse(self.send(calls.close_position(position_id, **close)).json())

    def position(self, position_id: int) -> Position:
        call = Call("getPosition", path_values={"position_id": position_id})
        return Position.parse(self.send(call).json())

    def order(self, order_id: int | None = None, *, client_order_id: str | None = None) -> Position:
        """An order (the position it opened) by id or by your client_order_id."""
        if order_id is not None:
            call = Call("getOrder", path_values={"order_id": order_id})
        else:
            call = Call("getOrderByClientOrderId", params={"client_order_id": client_order_id})
        return Position.parse(self.send(call).json())

    def positions(
        self,
        *,
        status: str | None = None,
        underlying: str | None = None,
        model_version: str | None = None,
        from_: Instant | None = None,
        to: Instant | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Position]:
        """Every matching position, newest first, fetched page by page."""
        params = calls.window(
            from_=from_, to=to, underlying=underlying, model_version=model_version
        )
        yield from self._pages("listPositions", {**params, "status": status}, Position, page_size)

    def trades(
        self,
        *,
        underlying: str | None = None,
        model_version: str | None = None,
        from_: Instant | None = None,
        to: Instant | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Trade]:
        """Every matching closed trade, newest first, fetched page by page."""
        params = calls.window(
            from_=from_, to=to, underlying=underlying, model_version=model_version
        )
        yield from self._pages("listTrades", params, Trade, page_size)

    def _pages(
        self, operation: str, params: dict[str, Any], model: Any, size: int
    ) -> Iterator[Any]:
        offset = 0
        while True:
            call = Call(operation, params={**params, "limit": size, "offset": offset})
            page = self.send(call).json()
            yield from (model.parse(item) for item in page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return

    # --- market data ---------------------------------------------------------------------------

    def quote(
        self,
        underlying: str,
        *,
        strike: float,
        option_type: str,
        expiry: date | str | None = None,
        as_of: Instant | None = None,
    ) -> Quote:
        params = {"strike": strike, "option_type": option_type, "expiry": expiry, "as_of": as_of}
        call = Call("getQuote", path_values={"underlying": underlying}, params=params)
        return Quote.parse(self.send(call).json())

    def chain(
        self, underlying: str, *, expiry: date | str | None = None, as_of: Instant | None = None
    ) -> Chain:
        params = {"expiry": expiry, "as_of": as_of}
        call = Call("getChain", path_values={"underlying": underlying}, params=params)
        return Chain.parse(self.send(call).json())

    # --- quality -------------------------------------------------------------------------------

    def quality_status(self) -> QualityStatus:
        return QualityStatus.parse(self.send(Call("getQualityStatus")).json())

    def run_quality_check(self, lookback_days: int = 1) -> QualityRun:
        """Run the checks now over the last `lookback_days` days and return the stored run."""
        call = Call("runQualityCheck", params={"lookback_days": lookback_days})
        return QualityRun.parse(self.send(call).json())

    def quality_report(self, run_id: int) -> str:
        """The text report of a stored run."""
        response = self._http.get(
            f"{self.urls['quality']}/quality/runs/{run_id}",
            params={"format": "text"},
            headers=self._headers,
        )
        raise_for_problem(response)
        return response.text

    # --- ML data and operations ----------------------------------------------------------------

    def export(
        self,
        *,
        from_: Instant | None = None,
        to: Instant | None = None,
        model_version: str | None = None,
        as_: str = "pandas",
    ) -> Any:
        """The training export as a pandas.DataFrame (`as_="pandas"`) or pyarrow.Table."""
        params = {
            **calls.window(from_=from_, to=to, model_version=model_version),
            "format": "arrow",
        }
        table = arrow_table(self.send(Call("exportTrades", params=params)).content)
        return table.to_pandas() if as_ == "pandas" else table

    def export_to(
        self,
        path: str,
        *,
        format: str = "parquet",
        from_: Instant | None = None,
        to: Instant | None = None,
        model_version: str | None = None,
        progress: Callable[[ExportProgress], None] | None = None,
    ) -> ExportProgress:
        """Stream the export into a Parquet or CSV file, reporting rows written of the total."""
        params = {
            **calls.window(from_=from_, to=to, model_version=model_version),
            "format": "arrow",
        }
        call = Call("exportTrades", params=params)
        with self._http.stream(**self._request_args(call)) as response:
            if response.status_code >= 400:
                response.read()
                raise_for_problem(response)
            total = int(response.headers.get(TOTAL_COUNT_HEADER, "0"))
            return write_stream(response.iter_bytes(), path, format, total, progress)

    def manifest(self) -> dict[str, Any]:
        """Each export column's role (`feature`, `label`, ...), from the order service."""
        result: dict[str, Any] = self.send(Call("getExportManifest")).json()
        return result

    def backfill(self, *, limit: int = 500, after_id: int = 0) -> dict[str, Any]:
        """Repair missing snapshots of at most `limit` trades after `after_id`."""
        call = Call("backfillSnapshots", params={"limit": limit, "after_id": after_id})
        result: dict[str, Any] = self.send(call).json()
        return result

    def settle(self, expiry: date | str | None = None) -> dict[str, Any]:
        """Settle open positions of an expiry at the official close (order service)."""
        result: dict[str, Any] = self.send(Call("runSettlement", params={"expiry": expiry})).json()
        return result


class AsyncOptrade(_Base):
    """The asyncio twin of `Optrade` (same methods, awaited; listings are async iterators)."""

    def __init__(
        self,
        base_url: str | Mapping[str, str] | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, retry=retry)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncOptrade:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.disconnect()

    async def disconnect(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call) -> httpx.Response:
        """Send a call, retrying 503/429 and lost connections within the retry budget."""
        args = self._request_args(call)
        attempts = Attempts(self.retry)
        while True:
            retry_after = None
            try:
                response = await self._http.request(**args)
            except httpx.TransportError as exc:
                last: httpx.Response | Exception = exc
            else:
                if response.status_code not in RETRY_STATUSES:
                    raise_for_problem(response)
                    return response
                last, retry_after = response, retry_after_seconds(response)
            delay = attempts.next_delay(retry_after)
            if delay is None:
                raise give_up(last)
            await asyncio.sleep(delay)

    async def open(self, **order: Unpack[OrderFields]) -> Position:
        return Position.parse((await self.send(calls.place_order(**order))).json())

    async def close(self, position_id: int, **close: Unpack[CloseFields]) -> CloseResult:
        response = await self.send(calls.close_position(position_id, **close))
        return CloseResult.parse(response.json())

    async def position(self, position_id: int) -> Position:
        call = Call("getPosition", path_values={"position_id": position_id})
        return Position.parse((await self.send(call)).json())

    async def positions(self, **filters: Any) -> AsyncIterator[Position]:
        async for item in self._pages("listPositions", filters, Position):
            yield item

    async def trades(self, **filters: Any) -> AsyncIterator[Trade]:
        async for item in self._pages("listTrades", filters, Trade):
            yield item

    async def _pages(
        self, operation: str, filters: dict[str, Any], model: Any
    ) -> AsyncIterator[Any]:
        size = filters.pop("page_size", PAGE_SIZE)
        status = filters.pop("status", None)
        params = {**calls.window(**{"from_": None, "to": None, **filters}), "status": status}
        offset = 0
        while True:
            call = Call(operation, params={**params, "limit": size, "offset": offset})
            page = (await self.send(call)).json()
            for item in page["items"]:
                yield model.parse(item)
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return

    async def quote(self, underlying: str, **params: Any) -> Quote:
        call = Call("getQuote", path_values={"underlying": underlying}, params=params)
        return Quote.parse((await self.send(call)).json())

    async def chain(self, underlying: str, **params: Any) -> Chain:
        call = Call("getChain", path_values={"underlying": underlying}, params=params)
        return Chain.parse((await self.send(call)).json())

    async def quality_status(self) -> QualityStatus:
        return QualityStatus.parse((await self.send(Call("getQualityStatus"))).json())

    async def run_quality_check(self, lookback_days: int = 1) -> QualityRun:
        call = Call("runQualityCheck", params={"lookback_days": lookback_days})
        return QualityRun.parse((await self.send(call)).json())

    async def export(self, *, as_: str = "pandas", **window: Any) -> Any:
        params = {**calls.window(**{"from_": None, "to": None, **window}), "format": "arrow"}
        table = arrow_table((await self.send(Call("exportTrades", params=params))).content)
        return table.to_pandas() if as_ == "pandas" else table

    async def manifest(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self.send(Call("getExportManifest"))).json()
        return result
