"""`Optrade` and `AsyncOptrade`: the platform's operations as methods.

with Optrade() as optrade:      # URLs and API key from OPTRADE_* / the ports / ./.env
    atm = optrade.atm_symbols("NIFTY")      # the nearest expiry's at-the-money call and put
    position = optrade.open(symbol=atm.ce, side="BUY", lots=2, ml_score=0.8,
                            model_version="v1", model_hash="9f2c4e1a", features={"rsi": 61})
    optrade.close(position.id, lots=1, reason="target")
    for trade in optrade.trades(model_version="v1"):
        print(trade.symbol, trade.pnl)

Both clients share one implementation: every method builds its request and parses its answer in
`optrade_client.calls`; a class only sends (sync or awaited), with the one retry rule of
`_transport.after_try`.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, Unpack

import httpx

from optrade_client import calls
from optrade_client._transport import (
    Attempts,
    RetryPolicy,
    after_try,
    raise_for_problem,
    service_urls,
)
from optrade_client.calls import (
    Call,
    CloseFields,
    ExitFields,
    Instant,
    Model,
    OrderFields,
    Pages,
    Request,
)
from optrade_client.config import load_connection
from optrade_client.export import ExportProgress, write_stream
from optrade_client.models import (
    Account,
    AtmSymbols,
    Chain,
    CloseResult,
    Order,
    Position,
    QualityRun,
    QualityStatus,
    Quote,
    Trade,
)

T = TypeVar("T")
M = TypeVar("M", bound=Model)
PAGE_SIZE = calls.PAGE_SIZE
_END = object()


class _Base:
    def __init__(
        self,
        base_url: str | Mapping[str, str] | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Unset URLs and key come from the environment and `./.env` (`optrade_client.config`,
        the same loader as the CLI's)."""
        connection = load_connection()
        self.urls = service_urls(base_url, connection.urls)
        self.retry = retry or RetryPolicy()
        key = api_key or connection.api_key
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
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
            try:
                outcome: httpx.Response | httpx.TransportError = self._http.request(**args)
            except httpx.TransportError as exc:
                outcome = exc
            delay = after_try(attempts, outcome, args["url"])
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return outcome
            time.sleep(delay)

    def run(self, request: Request[T]) -> T:
        """Send a request of `optrade_client.calls` and parse its answer."""
        return request.parse(self.send(request.call))

    def _pages(self, pages: Pages[M]) -> Iterator[M]:
        offset: int | None = 0
        while offset is not None:
            items, following = pages.read(self.send(pages.call(offset)), offset)
            yield from items
            offset = following

    # --- orders and positions ------------------------------------------------------------------

    def open(self, **order: Unpack[OrderFields]) -> Order:
        """Place an order; a MARKET order fills at once: its `position` (and `position_id`) is
        what it opened. See `calls.place_order` for the fields."""
        return self.run(calls.place_order(**order))

    def close(self, position_id: int, **close: Unpack[CloseFields]) -> CloseResult:
        """Close all of a position, or `lots` / `units` of it."""
        return self.run(calls.close_position(position_id, **close))

    def cancel(self, order_id: int) -> Order:
        """Cancel an order that waits for the market (open, trigger_pending)."""
        return self.run(calls.cancel_order(order_id))

    def modify(
        self,
        order_id: int,
        *,
        price: Decimal | float | str | None = None,
        trigger_price: Decimal | float | str | None = None,
        lots: int | None = None,
    ) -> Order:
        """Change a waiting order's price, trigger_price or lots."""
        return self.run(
            calls.modify_order(order_id, price=price, trigger_price=trigger_price, lots=lots)
        )

    def set_exits(self, position_id: int, **exits: Unpack[ExitFields]) -> Position:
        """Replace a position's exits (stop_loss, target, trailing_stop, exit_at)."""
        return self.run(calls.set_exits(position_id, **exits))

    def advance(self, until: Instant) -> dict[str, Any]:
        """Walk the replayed market up to `until` (fills, exits, expiries, settlements)."""
        return self.run(calls.advance(until))

    def position(self, position_id: int) -> Position:
        return self.run(calls.get_position(position_id))

    def order(self, order_id: int | None = None, *, client_order_id: str | None = None) -> Order:
        """An order (with its position) by id or by your client_order_id."""
        return self.run(calls.get_order(order_id, client_order_id))

    def orders(self, *, status: str | None = None, page_size: int = PAGE_SIZE) -> Iterator[Order]:
        """Every order, newest first (optionally of one status), fetched page by page."""
        yield from self._pages(calls.list_orders(status=status, page_size=page_size))

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
        yield from self._pages(calls.list_positions(
            status=status, underlying=underlying, model_version=model_version, from_=from_,
            to=to, page_size=page_size,
        ))  # fmt: skip

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
        yield from self._pages(calls.list_trades(
            underlying=underlying, model_version=model_version, from_=from_, to=to,
            page_size=page_size,
        ))  # fmt: skip

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
        return self.run(calls.get_quote(
            underlying, strike=strike, option_type=option_type, expiry=expiry, as_of=as_of
        ))  # fmt: skip

    def chain(
        self, underlying: str, *, expiry: date | str | None = None, as_of: Instant | None = None
    ) -> Chain:
        return self.run(calls.get_chain(underlying, expiry=expiry, as_of=as_of))

    def atm_symbols(
        self, underlying: str, *, expiry: date | str | None = None, as_of: Instant | None = None
    ) -> AtmSymbols:
        """The at-the-money call and put symbols of the nearest (or the given) expiry."""
        return self.run(calls.atm_symbols(underlying, expiry=expiry, as_of=as_of))

    # --- quality -------------------------------------------------------------------------------

    def quality_status(self) -> QualityStatus:
        return self.run(calls.quality_status())

    def run_quality_check(
        self,
        lookback_days: int = 1,
        *,
        from_: Instant | None = None,
        to: Instant | None = None,
        mode: str | None = None,
    ) -> QualityRun:
        """Run the checks now over the last `lookback_days` days (or `from_`..`to`, trades of
        `mode`: live, replay or all) and return the stored run."""
        return self.run(calls.run_quality_check(lookback_days, from_=from_, to=to, mode=mode))

    def quality_report(self, run_id: int) -> str:
        """The text report of a stored run."""
        return self.run(calls.quality_report(run_id))

    def quality_run_trades(self, run_id: int) -> str:
        """The trades a stored run counted, as CSV (certified training data of a passing run)."""
        return self.run(calls.quality_run_trades(run_id))

    # --- replay --------------------------------------------------------------------------------

    def replay_instants(
        self, underlying: str, *, from_: Instant | None = None, to: Instant | None = None
    ) -> list[datetime]:
        """The snapshot instants of a replay market in a range, ascending (UTC)."""
        return self.run(calls.replay_instants(underlying, from_=from_, to=to))

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
        return self.run(
            calls.export_table(from_=from_, to=to, model_version=model_version, as_=as_)
        )

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
        call = calls.export_call(from_=from_, to=to, model_version=model_version)
        with self._http.stream(**self._request_args(call)) as response:
            if response.status_code >= 400:
                response.read()
                raise_for_problem(response)
            total = calls.export_total(response)
            return write_stream(response.iter_bytes(), path, format, total, progress)

    def manifest(self) -> dict[str, Any]:
        """Each export column's role (`feature`, `label`, ...), from the order service."""
        return self.run(calls.manifest())

    def backfill(self, *, limit: int = 500, after_id: int = 0) -> dict[str, Any]:
        """Repair missing snapshots of at most `limit` trades after `after_id`."""
        return self.run(calls.backfill(limit=limit, after_id=after_id))

    def settle(self, expiry: date | str | None = None) -> dict[str, Any]:
        """Settle open positions of an expiry at the official close (order service)."""
        return self.run(calls.settle(expiry))

    def account(self, name: str = "default") -> Account:
        """An account's funds page (capital, cash, used margin, available, P&L, equity)."""
        return self.run(calls.account(name))

    def set_capital(self, name: str, capital: Decimal | int | str) -> Account:
        """Set an account's starting capital (rupees); answers its page."""
        return self.run(calls.set_capital(name, capital))

    def margin(
        self,
        legs: list[dict[str, Any]],
        *,
        account: str = "default",
        as_of: Instant | None = None,
    ) -> dict[str, Any]:
        """The margin of a basket of `{"symbol", "side", "lots"}` legs with the account's open
        positions and alone, before you send it."""
        return self.run(calls.margin(legs, account=account, as_of=as_of))


class AsyncOptrade(_Base):
    """The asyncio twin of `Optrade`: the same methods over the same `calls`, awaited;
    listings are async iterators."""

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
        """Close the connection pool."""
        await self._http.aclose()

    async def send(self, call: Call) -> httpx.Response:
        """Send a call, retrying 503/429 and lost connections within the retry budget."""
        args = self._request_args(call)
        attempts = Attempts(self.retry)
        while True:
            try:
                outcome: httpx.Response | httpx.TransportError = await self._http.request(**args)
            except httpx.TransportError as exc:
                outcome = exc
            delay = after_try(attempts, outcome, args["url"])
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return outcome
            await asyncio.sleep(delay)

    async def run(self, request: Request[T]) -> T:
        """Send a request of `optrade_client.calls` and parse its answer."""
        return request.parse(await self.send(request.call))

    async def _pages(self, pages: Pages[M]) -> AsyncIterator[M]:
        offset: int | None = 0
        while offset is not None:
            items, following = pages.read(await self.send(pages.call(offset)), offset)
            for item in items:
                yield item
            offset = following

    async def open(self, **order: Unpack[OrderFields]) -> Order:
        """Place an order; a MARKET order fills at once: its `position` (and `position_id`) is
        what it opened. See `calls.place_order` for the fields."""
        return await self.run(calls.place_order(**order))

    async def close(self, position_id: int, **close: Unpack[CloseFields]) -> CloseResult:
        """Close all of a position, or `lots` / `units` of it."""
        return await self.run(calls.close_position(position_id, **close))

    async def cancel(self, order_id: int) -> Order:
        """Cancel an order that waits for the market (open, trigger_pending)."""
        return await self.run(calls.cancel_order(order_id))

    async def modify(
        self,
        order_id: int,
        *,
        price: Decimal | float | str | None = None,
        trigger_price: Decimal | float | str | None = None,
        lots: int | None = None,
    ) -> Order:
        """Change a waiting order's price, trigger_price or lots."""
        return await self.run(
            calls.modify_order(order_id, price=price, trigger_price=trigger_price, lots=lots)
        )

    async def set_exits(self, position_id: int, **exits: Unpack[ExitFields]) -> Position:
        """Replace a position's exits (stop_loss, target, trailing_stop, exit_at)."""
        return await self.run(calls.set_exits(position_id, **exits))

    async def advance(self, until: Instant) -> dict[str, Any]:
        """Walk the replayed market up to `until` (fills, exits, expiries, settlements)."""
        return await self.run(calls.advance(until))

    async def position(self, position_id: int) -> Position:
        return await self.run(calls.get_position(position_id))

    async def order(
        self, order_id: int | None = None, *, client_order_id: str | None = None
    ) -> Order:
        """An order (with its position) by id or by your client_order_id."""
        return await self.run(calls.get_order(order_id, client_order_id))

    async def orders(
        self, *, status: str | None = None, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[Order]:
        """Every order, newest first (optionally of one status), fetched page by page."""
        async for item in self._pages(calls.list_orders(status=status, page_size=page_size)):
            yield item

    async def positions(
        self,
        *,
        status: str | None = None,
        underlying: str | None = None,
        model_version: str | None = None,
        from_: Instant | None = None,
        to: Instant | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[Position]:
        """Every matching position, newest first, fetched page by page."""
        async for item in self._pages(calls.list_positions(
            status=status, underlying=underlying, model_version=model_version, from_=from_,
            to=to, page_size=page_size,
        )):  # fmt: skip
            yield item

    async def trades(
        self,
        *,
        underlying: str | None = None,
        model_version: str | None = None,
        from_: Instant | None = None,
        to: Instant | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[Trade]:
        """Every matching closed trade, newest first, fetched page by page."""
        async for item in self._pages(calls.list_trades(
            underlying=underlying, model_version=model_version, from_=from_, to=to,
            page_size=page_size,
        )):  # fmt: skip
            yield item

    async def quote(
        self,
        underlying: str,
        *,
        strike: float,
        option_type: str,
        expiry: date | str | None = None,
        as_of: Instant | None = None,
    ) -> Quote:
        return await self.run(calls.get_quote(
            underlying, strike=strike, option_type=option_type, expiry=expiry, as_of=as_of
        ))  # fmt: skip

    async def chain(
        self, underlying: str, *, expiry: date | str | None = None, as_of: Instant | None = None
    ) -> Chain:
        return await self.run(calls.get_chain(underlying, expiry=expiry, as_of=as_of))

    async def atm_symbols(
        self, underlying: str, *, expiry: date | str | None = None, as_of: Instant | None = None
    ) -> AtmSymbols:
        """The at-the-money call and put symbols of the nearest (or the given) expiry."""
        return await self.run(calls.atm_symbols(underlying, expiry=expiry, as_of=as_of))

    async def quality_status(self) -> QualityStatus:
        return await self.run(calls.quality_status())

    async def run_quality_check(
        self,
        lookback_days: int = 1,
        *,
        from_: Instant | None = None,
        to: Instant | None = None,
        mode: str | None = None,
    ) -> QualityRun:
        """Run the checks now over the last `lookback_days` days (or `from_`..`to`, trades of
        `mode`: live, replay or all) and return the stored run."""
        request = calls.run_quality_check(lookback_days, from_=from_, to=to, mode=mode)
        return await self.run(request)

    async def quality_report(self, run_id: int) -> str:
        """The text report of a stored run."""
        return await self.run(calls.quality_report(run_id))

    async def quality_run_trades(self, run_id: int) -> str:
        """The trades a stored run counted, as CSV (certified training data of a passing run)."""
        return await self.run(calls.quality_run_trades(run_id))

    async def replay_instants(
        self, underlying: str, *, from_: Instant | None = None, to: Instant | None = None
    ) -> list[datetime]:
        """The snapshot instants of a replay market in a range, ascending (UTC)."""
        return await self.run(calls.replay_instants(underlying, from_=from_, to=to))

    async def export(
        self,
        *,
        from_: Instant | None = None,
        to: Instant | None = None,
        model_version: str | None = None,
        as_: str = "pandas",
    ) -> Any:
        """The training export as a pandas.DataFrame (`as_="pandas"`) or pyarrow.Table."""
        request = calls.export_table(from_=from_, to=to, model_version=model_version, as_=as_)
        return await self.run(request)

    async def export_to(
        self,
        path: str,
        *,
        format: str = "parquet",
        from_: Instant | None = None,
        to: Instant | None = None,
        model_version: str | None = None,
        progress: Callable[[ExportProgress], None] | None = None,
    ) -> ExportProgress:
        """Stream the export into a Parquet or CSV file, reporting rows written of the total.

        The body's chunks pass through a small queue to the same writer `Optrade` uses, which
        runs in a thread so the event loop keeps serving."""
        call = calls.export_call(from_=from_, to=to, model_version=model_version)
        async with self._http.stream(**self._request_args(call)) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for_problem(response)
            total = calls.export_total(response)
            chunks: queue.Queue[Any] = queue.Queue(maxsize=16)

            def received() -> Iterator[bytes]:
                while (chunk := chunks.get()) is not _END:
                    yield chunk

            writing = asyncio.ensure_future(
                asyncio.to_thread(write_stream, received(), path, format, total, progress)
            )

            async def hand_over(chunk: object) -> bool:
                """Queue a chunk for the writer; False when the writer has stopped."""
                while not writing.done():
                    try:
                        chunks.put_nowait(chunk)
                        return True
                    except queue.Full:
                        await asyncio.sleep(0.005)
                return False

            try:
                async for chunk in response.aiter_bytes():
                    if not await hand_over(chunk):
                        break
            finally:
                await hand_over(_END)
            return await writing

    async def manifest(self) -> dict[str, Any]:
        """Each export column's role (`feature`, `label`, ...), from the order service."""
        return await self.run(calls.manifest())

    async def backfill(self, *, limit: int = 500, after_id: int = 0) -> dict[str, Any]:
        """Repair missing snapshots of at most `limit` trades after `after_id`."""
        return await self.run(calls.backfill(limit=limit, after_id=after_id))

    async def settle(self, expiry: date | str | None = None) -> dict[str, Any]:
        """Settle open positions of an expiry at the official close (order service)."""
        return await self.run(calls.settle(expiry))

    async def account(self, name: str = "default") -> Account:
        """An account's funds page (capital, cash, used margin, available, P&L, equity)."""
        return await self.run(calls.account(name))

    async def set_capital(self, name: str, capital: Decimal | int | str) -> Account:
        """Set an account's starting capital (rupees); answers its page."""
        return await self.run(calls.set_capital(name, capital))

    async def margin(
        self,
        legs: list[dict[str, Any]],
        *,
        account: str = "default",
        as_of: Instant | None = None,
    ) -> dict[str, Any]:
        """The margin of a basket of `{"symbol", "side", "lots"}` legs with the account's open
        positions and alone, before you send it."""
        return await self.run(calls.margin(legs, account=account, as_of=as_of))
