"""The Python client against the running stack: orders, errors, pages, quality and the export."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from optrade_client import (
    AsyncOptrade,
    InvalidInput,
    NotFound,
    Optrade,
    RetryPolicy,
    ServerUnreachable,
    Unauthorized,
)
from optrade_client.export import ExportProgress
from tests.clients.conftest import signal, urls
from tests.reliability.conftest import Service

pytestmark = pytest.mark.slow


def test_a_kite_style_order_in_units_opens_whole_lots_and_closes_in_part(
    optrade: Optrade, contract: dict[str, Any]
) -> None:
    lot = contract["lot_size"]
    position = optrade.open(symbol=contract["symbol"], units=2 * lot, **signal()).position
    assert (position.lots, position.units, position.lot_size) == (2, 2 * lot, lot)
    assert (position.symbol, position.exchange) == (contract["symbol"], "NFO")
    result = optrade.close(position.id, lots=1, reason="target")
    assert (result.trade.lots, result.trade.units) == (1, lot)
    assert (result.position.lots_open, result.position.units_open) == (1, lot)
    expected = (result.trade.exit_price - position.entry_price) * lot
    assert result.trade.pnl == expected.quantize(Decimal("0.01"))
    assert optrade.position(position.id).lots_open == 1


def test_units_that_are_not_whole_lots_raise_invalid_input_naming_the_lot_size(
    optrade: Optrade, contract: dict[str, Any]
) -> None:
    lot = contract["lot_size"]
    with pytest.raises(InvalidInput) as raised:
        optrade.open(symbol=contract["symbol"], units=lot + 35, **signal())
    assert raised.value.status == 422 and raised.value.type == "/problems/invalid-input"
    assert raised.value.field == "units" and f"lot size {lot}" in raised.value.detail


def test_problem_details_become_typed_errors(services: dict[str, Service]) -> None:
    with Optrade(urls(services), "not-the-key") as wrong_key:
        with pytest.raises(Unauthorized) as raised:
            wrong_key.close(1)
        assert raised.value.status == 401 and raised.value.title == "Unauthorized"
        with pytest.raises(NotFound):
            wrong_key.position(987654321)


def test_an_order_is_found_by_client_order_id_and_trades_iterate_over_every_page(
    optrade: Optrade, contract: dict[str, Any]
) -> None:
    placed = [
        optrade.open(symbol=contract["symbol"], lots=1, client_order_id=f"pages-{i}",
                     **signal(model_version="pages-v1"))
        for i in range(3)
    ]  # fmt: skip
    assert optrade.order(client_order_id="pages-1").id == placed[1].id
    assert optrade.order(placed[2].id).client_order_id == "pages-2"
    for order in placed:  # the answer is the order; close the position it opened
        assert order.position_id is not None
        optrade.close(order.position_id)
    trades = list(optrade.trades(model_version="pages-v1", page_size=1))
    assert sorted(t.position_id for t in trades) == sorted(o.position_id for o in placed)
    open_ones = list(optrade.positions(model_version="pages-v1", status="open", page_size=2))
    assert open_ones == []


def test_retries_reuse_one_idempotency_key_so_a_lost_answer_never_opens_twice(
    services: dict[str, Service], contract: dict[str, Any]
) -> None:
    """The first answer is lost (the transport drops it after the server acted); the retry,
    with the same key, gets the same position back."""
    seen_keys: list[str] = []
    real = httpx.HTTPTransport()

    class LosesFirstAnswer(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = real.handle_request(request)
            if request.method == "POST":
                seen_keys.append(request.headers["Idempotency-Key"])
                if len(seen_keys) == 1:
                    response.read()
                    raise httpx.ReadError("connection reset", request=request)
            return response

    with real, Optrade(urls(services), _key(), transport=LosesFirstAnswer(),
                       retry=RetryPolicy(backoff=0.01)) as client:  # fmt: skip
        position = client.open(
            symbol=contract["symbol"], lots=1, **signal(model_version="lost")
        ).position
        assert len(seen_keys) == 2 and seen_keys[0] == seen_keys[1]
        assert [p.id for p in client.positions(model_version="lost")] == [position.id]


def test_503_is_retried_after_retry_after_within_the_budget() -> None:
    answers = iter([503, 503, 200])
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        status = next(answers)
        if status == 503:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"type": "/problems/x"})
        return httpx.Response(200, json={"repaired": 0})

    with Optrade("http://stack.test", "k", transport=httpx.MockTransport(handler)) as client:
        client.backfill()
    assert len(keys) == 3 and len(set(keys)) == 1


def test_an_unreachable_server_raises_after_the_bounded_budget() -> None:
    policy = RetryPolicy(attempts=3, budget=2.0, backoff=0.01)
    with (
        Optrade("http://127.0.0.1:9", "k", retry=policy) as client,
        pytest.raises(ServerUnreachable),
    ):
        client.quality_status()


def test_quotes_chains_and_quality_through_the_client(
    optrade: Optrade, contract: dict[str, Any]
) -> None:
    quote = optrade.quote("NIFTY", strike=contract["strike"], option_type="CE",
                          expiry=contract["expiry"])  # fmt: skip
    assert quote.symbol == contract["symbol"] and quote.exchange == "NFO"
    run = optrade.run_quality_check(lookback_days=7)
    assert run.total_trades >= 1 and {c["name"] for c in run.checks} >= {"entry_greeks"}
    assert "=== DATA QUALITY CHECK ===" in optrade.quality_report(run.id)
    assert optrade.quality_status().latest_run is not None


def test_the_export_as_a_dataframe_and_as_a_parquet_file_with_progress(
    optrade: Optrade, contract: dict[str, Any], tmp_path: Path
) -> None:
    position = optrade.open(
        symbol=contract["symbol"], lots=2, **signal(model_version="export-v1")
    ).position
    optrade.close(position.id)
    frame = optrade.export(model_version="export-v1")
    assert list(frame["symbol"]) == [contract["symbol"]] and list(frame["units"]) == [
        2 * contract["lot_size"]
    ]
    seen: list[tuple[int, int]] = []

    def progress(done: ExportProgress) -> None:
        seen.append((done.rows, done.total))

    everything = optrade.export_to(str(tmp_path / "all.parquet"), progress=progress)
    on_disk = pd.read_parquet(tmp_path / "all.parquet")
    assert everything.rows == everything.total == len(on_disk) >= 1
    assert seen[0] == (0, everything.total) and seen[-1] == (everything.rows, everything.total)
    assert list(on_disk.columns) == list(optrade.export(as_="arrow").schema.names)


def test_the_async_twin(services: dict[str, Service], contract: dict[str, Any]) -> None:
    async def session() -> tuple[int, list[int]]:
        async with AsyncOptrade(urls(services), _key()) as client:
            position = (await client.open(symbol=contract["symbol"], lots=1,
                                         **signal(model_version="async-v1"))).position  # fmt: skip
            await client.close(position.id)
            ids = [t.position_id async for t in client.trades(model_version="async-v1")]
            return position.id, ids

    position_id, trade_positions = asyncio.run(session())
    assert trade_positions == [position_id]


def test_the_async_twin_streams_the_export_to_a_file_and_reads_a_report(
    services: dict[str, Service], contract: dict[str, Any], tmp_path: Path
) -> None:
    async def session() -> tuple[ExportProgress, str, Any, Any]:
        async with AsyncOptrade(urls(services), _key()) as client:
            placed = await client.open(
                symbol=contract["symbol"], lots=1, **signal(model_version="async-export")
            )
            position = placed.position
            await client.close(position.id)
            done = await client.export_to(
                str(tmp_path / "mine.csv"), format="csv", model_version="async-export"
            )
            run = await client.run_quality_check(lookback_days=7)
            chain = await client.chain("NIFTY")
            atm = await client.atm_symbols("NIFTY", as_of=chain.as_of)
            return done, await client.quality_report(run.id), chain, atm

    done, report, chain, atm = asyncio.run(session())
    on_disk = pd.read_csv(tmp_path / "mine.csv")
    assert done.rows == done.total == len(on_disk) == 1
    assert list(on_disk["symbol"]) == [contract["symbol"]]
    assert "=== DATA QUALITY CHECK ===" in report
    # The strike nearest the spot, by hand from the chain of the same instant.
    nearest = min((r for r in chain.strikes if r["ce"] and r["pe"]),
                  key=lambda r: abs(r["strike"] - chain.spot))  # fmt: skip
    assert (atm.strike, atm.expiry) == (nearest["strike"], chain.expiry)
    assert (atm.ce, atm.pe) == (nearest["ce"]["symbol"], nearest["pe"]["symbol"])
    assert atm.ce.startswith("NIFTY") and atm.ce.endswith("CE") and atm.pe.endswith("PE")


def _key() -> str:
    from tests.conftest import TEST_API_KEY

    return TEST_API_KEY
