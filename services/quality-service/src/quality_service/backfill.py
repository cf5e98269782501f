"""Snapshot backfill after the daily check, asked of the order service over HTTP.

The order service owns the trade rows and the repair logic (`POST /v1/trades/backfill`, bounded
batches resumed with `after_id`); a service never imports another, so the quality worker calls
that endpoint until every missing snapshot has been examined once, then checks the window again
so the run history shows the coverage before and after the backfill.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.observability import outgoing_headers
from optrade.settings import get_app_settings

log = logging.getLogger(__name__)


class OrderServiceSettings(BaseSettings):
    """`ORDER_SERVICE_*`: where the quality worker asks the order service to backfill."""

    model_config = SettingsConfigDict(env_prefix="ORDER_SERVICE_", env_file=".env", extra="ignore")

    url: str = "http://127.0.0.1:8000"
    timeout_seconds: float = Field(300.0, gt=0)  # one batch asks a provider once per snapshot
    backfill_batch: int = Field(500, ge=1, le=5000)
    backfill_max_batches: int = Field(200, ge=1)
    # The worker's own credential for the order service; unset: the deployment's API_KEY.
    api_key: SecretStr | None = None

    def credential(self) -> SecretStr | None:
        """The key the worker sends to the order service."""
        return self.api_key or get_app_settings().api_key


@lru_cache
def get_order_service_settings() -> OrderServiceSettings:
    return OrderServiceSettings()


def request_backfill(
    settings: OrderServiceSettings, *, transport: httpx.BaseTransport | None = None
) -> dict[str, Any]:
    """Run backfill batches on the order service until none is left; totals per side."""
    key = settings.credential()
    headers = {
        **outgoing_headers(),
        "Authorization": f"Bearer {key.get_secret_value() if key else ''}",
    }
    totals: dict[str, Any] = {"batches": 0, "entry": {}, "exit": {}}
    after_id: int | None = 0
    with httpx.Client(
        base_url=settings.url, timeout=settings.timeout_seconds, transport=transport
    ) as client:
        while after_id is not None and totals["batches"] < settings.backfill_max_batches:
            response = client.post(
                "/v1/trades/backfill",
                params={"limit": settings.backfill_batch, "after_id": after_id},
                headers=headers,
            )
            report = response.raise_for_status().json()
            totals["batches"] += 1
            for side in ("entry", "exit"):
                for name, count in report[side].items():
                    totals[side][name] = totals[side].get(name, 0) + count
            after_id = report["next_after_id"]
    log.info("snapshot backfill: %s", totals)
    return totals
