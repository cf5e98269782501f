"""The reference order app: the order service's work on the leanest stack we would write.

FastAPI, async endpoints, psycopg 3 async connections from a small pool of its own, one shared
`httpx.AsyncClient` for the quote. Open: GET the quote, INSERT ... RETURNING. Close, in one
transaction: SELECT the position FOR UPDATE, GET the quote, UPDATE it closed, INSERT the trade.
Its tables (`bench_ref_position`, `bench_ref_trade`) live in the bench's scratch database beside
the order service's. Settings: REFERENCE_DATABASE_URL (postgresql://...) and REFERENCE_QUOTE_URL.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

POOL_SIZE = 10
SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_ref_position (
    id BIGSERIAL PRIMARY KEY, client_order_id TEXT UNIQUE, underlying TEXT NOT NULL,
    expiry DATE NOT NULL, strike NUMERIC NOT NULL, option_type TEXT NOT NULL,
    side TEXT NOT NULL, lots INTEGER NOT NULL, lot_size INTEGER NOT NULL,
    quantity_open INTEGER NOT NULL, entry_price NUMERIC NOT NULL, status TEXT NOT NULL,
    entry_snapshot JSONB NOT NULL, features_snapshot JSONB, ml_score DOUBLE PRECISION,
    model_version TEXT, model_hash TEXT, opened_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS bench_ref_trade (
    id BIGSERIAL PRIMARY KEY, position_id BIGINT NOT NULL REFERENCES bench_ref_position(id),
    lots INTEGER NOT NULL, entry_price NUMERIC NOT NULL, exit_price NUMERIC NOT NULL,
    pnl NUMERIC NOT NULL, exit_snapshot JSONB NOT NULL,
    closed_at TIMESTAMPTZ NOT NULL DEFAULT now());
"""


class Order(BaseModel):
    underlying: str
    expiry: str
    strike: float
    option_type: str
    side: str
    quantity: int | None = None  # lots, under either name the order service accepts
    lots: int | None = None
    client_order_id: str | None = None
    ml_score: float | None = None
    model_version: str | None = None
    model_hash: str | None = None
    features_snapshot: dict[str, Any] | None = None


class Pool:
    """A fixed set of open connections handed out one request at a time."""

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size
        self.idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await psycopg.AsyncConnection.connect(self.url))

    async def close(self) -> None:
        while not self.idle.empty():
            await self.idle.get_nowait().close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await self.idle.get()
        try:
            yield conn
        finally:
            self.idle.put_nowait(conn)


async def _quote(client: httpx.AsyncClient, order: dict[str, Any]) -> dict[str, Any]:
    params = {k: order[k] for k in ("expiry", "strike", "option_type")}
    response = await client.get(f"/v1/quote/{order['underlying']}", params=params)
    if response.status_code != 200:
        raise HTTPException(503, "quote unavailable")
    quote: dict[str, Any] = response.json()
    return quote


def _side_price(quote: dict[str, Any], side: str, closing: bool) -> float:
    buying = (side == "BUY") != closing
    return float(quote["ask"] if buying else quote["bid"])


def create_app() -> FastAPI:
    pool = Pool(os.environ["REFERENCE_DATABASE_URL"], POOL_SIZE)
    client = httpx.AsyncClient(base_url=os.environ["REFERENCE_QUOTE_URL"], timeout=2.0)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with await psycopg.AsyncConnection.connect(pool.url, autocommit=True) as conn:
            await conn.execute(SCHEMA)
        await pool.open()
        yield
        await pool.close()
        await client.aclose()

    app = FastAPI(title="reference order app", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/orders", status_code=201)
    async def open_order(order: Order, request: Request) -> dict[str, Any]:
        if not request.headers.get("authorization"):
            raise HTTPException(401, "no API key")
        body = order.model_dump()
        quote = await _quote(client, body)
        price = _side_price(quote, order.side, closing=False)
        lots = order.lots or order.quantity or 1
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO bench_ref_position (client_order_id, underlying, expiry, strike,"
                " option_type, side, lots, lot_size, quantity_open, entry_price, status,"
                " entry_snapshot, features_snapshot, ml_score, model_version, model_hash)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s, %s, %s, %s)"
                " RETURNING id, opened_at",
                (order.client_order_id, order.underlying, order.expiry, order.strike,
                 order.option_type, order.side, lots, quote["lot_size"],
                 lots * quote["lot_size"], price, json.dumps(quote),
                 json.dumps(order.features_snapshot), order.ml_score, order.model_version,
                 order.model_hash),
            )  # fmt: skip
            row = await cursor.fetchone()
            await conn.commit()
        assert row is not None
        return {"id": row[0], "status": "open", "entry_price": price, "opened_at": row[1]}

    @app.post("/v1/positions/{position_id}/close")
    async def close(position_id: int, request: Request) -> dict[str, Any]:
        if not request.headers.get("authorization"):
            raise HTTPException(401, "no API key")
        async with pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT underlying, expiry::text, strike::float8, option_type, side, lots,"
                " lot_size, entry_price::float8, status FROM bench_ref_position"
                " WHERE id = %s FOR UPDATE",
                (position_id,),
            )
            found = await cursor.fetchone()
            if found is None or found[8] != "open":
                raise HTTPException(404 if found is None else 409, "no open position")
            keys = ("underlying", "expiry", "strike", "option_type", "side")
            position = dict(zip(keys, found[:5], strict=True))
            quote = await _quote(client, position)
            price = _side_price(quote, position["side"], closing=True)
            sign = 1 if position["side"] == "BUY" else -1
            pnl = round(sign * (price - found[7]) * found[5] * found[6], 2)
            await conn.execute(
                "UPDATE bench_ref_position SET quantity_open = 0, status = 'closed',"
                " updated_at = now() WHERE id = %s AND status = 'open'",
                (position_id,),
            )
            cursor = await conn.execute(
                "INSERT INTO bench_ref_trade (position_id, lots, entry_price, exit_price, pnl,"
                " exit_snapshot) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, closed_at",
                (position_id, found[5], found[7], price, pnl, json.dumps(quote)),
            )
            trade = await cursor.fetchone()
        assert trade is not None
        return {"id": trade[0], "position_id": position_id, "exit_price": price, "pnl": pnl,
                "closed_at": trade[1]}  # fmt: skip

    return app
