"""The test-only control surface every fake broker has: behaviour switches and request counts."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request


class Control:
    """`mode`: ok | 429 | 401 | 500 | hang; `delay`: seconds before answering a chain;
    `lag`: seconds the upstream's timestamp lags (stale data); `zero_strikes` / `odd_oi_strikes`:
    legs sent as all zeros / with OI one unit off a whole lot; `retry_after` for a 429;
    `price_factor`: every option's LTP, bid and ask multiplied by it (a market that moves)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 0.0
        self.lag = 0.0
        self.retry_after = 2
        self.price_factor = 1.0
        self.zero_strikes: set[float] = set()
        self.odd_oi_strikes: set[float] = set()
        self.counts: Counter[str] = Counter()

    def update(self, body: dict[str, Any]) -> None:
        for name in ("mode", "delay", "lag", "retry_after", "price_factor"):
            if name in body:
                setattr(self, name, body[name])
        for name in ("zero_strikes", "odd_oi_strikes"):
            if name in body:
                setattr(self, name, {float(k) for k in body[name]})
        if body.get("reset_counts"):
            self.counts.clear()

    async def pause(self) -> None:
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.delay:
            await asyncio.sleep(self.delay)


def control_router(control: Control) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/_control")
    def show() -> dict[str, Any]:
        return {"mode": control.mode, "counts": dict(control.counts)}

    @router.post("/_control")
    async def change(request: Request) -> dict[str, Any]:
        control.update(await request.json())
        return {"mode": control.mode, "counts": dict(control.counts)}

    return router
