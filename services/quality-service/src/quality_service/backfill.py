"""Snapshot backfill after the daily check, asked of the order service over HTTP.

The order service owns the trade rows and the repair logic (`POST /v1/trades/backfill`, bounded
batches resumed with `after_id`); a service never imports another, so the quality worker calls
that endpoint until every missing snapshot has been examined once, then checks the window again
so the run history shows the coverage before and after the backfill.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.observability import outgoing_headers
from optrade.settings import cached_settings, get_app_settings

log = logging.getLogger(__name__)


class OrderServiceSettings(BaseSettings):
    """`ORDER_SERVICE_*`: where the quality worker asks the order service to backfill."""

    model_config = SettingsConfigDict(env_prefix="ORDER_SERVICE_", env_file=".env", extra="ignore")

    url: str = "http://127.0.0.1:8000"
    timeout_seconds: float = Field(300.0, gt=0)  # one batch asks a provider once per snapshot
    backfill_batch: int = Field(500, ge=1, le=5000)
    backfill_max_batches: int = Field(200, ge=1)
    # The start-up catch-up waits this long at most for the order service before its backfills.
    startup_wait_seconds: float = Field(120.0, ge=0)
    # The worker's own credential for the order service; unset: the deployment's API_KEY.
    api_key: SecretStr | None = None

    def credential(self) -> SecretStr | None:
        """The key the worker sends to the order service."""
        return self.api_key or get_app_settings().api_key


@cached_settings
def get_order_service_settings() -> OrderServiceSettings:
    return OrderServiceSettings()


def wait_for_order_service(
    settings: OrderServiceSettings, *, sleep: Callable[[float], None] = time.sleep
) -> bool:
    """Poll the order service's /healthz until it answers (True) or the wait is over (False)."""
    deadline = time.monotonic() + settings.startup_wait_seconds
    while True:
        try:
            if httpx.get(f"{settings.url}/healthz", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            log.warning(
                "the order service did not answer within %ss", settings.startup_wait_seconds
            )
            return False
        sleep(1.0)


def _headers(settings: OrderServiceSettings) -> dict[str, str]:
    key = settings.credential()
    return {
        **outgoing_headers(),
        "Authorization": f"Bearer {key.get_secret_value() if key else ''}",
    }


def empty_totals() -> dict[str, Any]:
    return {"batches": 0, "entry": {}, "exit": {}}


def add_batch(totals: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """`totals` with one batch's counts per side added (a new dict)."""
    summed: dict[str, Any] = {"batches": totals["batches"] + 1}
    for side in ("entry", "exit"):
        merged = dict(totals[side])
        for name, count in report[side].items():
            merged[name] = merged.get(name, 0) + int(count)
        summed[side] = merged
    return summed


def request_batch(
    settings: OrderServiceSettings,
    after_id: int,
    *,
    client: httpx.Client | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Ask the order service for one bounded backfill batch after `after_id`; its report."""
    params = {"limit": settings.backfill_batch, "after_id": after_id}
    if client is not None:
        response = client.post("/v1/trades/backfill", params=params, headers=_headers(settings))
        return response.raise_for_status().json()  # type: ignore[no-any-return]
    with httpx.Client(
        base_url=settings.url, timeout=settings.timeout_seconds, transport=transport
    ) as own:
        return request_batch(settings, after_id, client=own)


def request_backfill(
    settings: OrderServiceSettings, *, transport: httpx.BaseTransport | None = None
) -> dict[str, Any]:
    """Run backfill batches on the order service until none is left; totals per side."""
    totals = empty_totals()
    after_id: int | None = 0
    with httpx.Client(
        base_url=settings.url, timeout=settings.timeout_seconds, transport=transport
    ) as client:
        while after_id is not None and totals["batches"] < settings.backfill_max_batches:
            report = request_batch(settings, after_id, client=client)
            totals = add_batch(totals, report)
            after_id = report["next_after_id"]
    log.info("snapshot backfill: %s", totals)
    return totals
