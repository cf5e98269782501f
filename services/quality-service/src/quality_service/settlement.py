"""The 15:30 IST expiry settlement, asked of the order service over HTTP (it owns positions)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from optrade.observability import outgoing_headers
from quality_service.backfill import OrderServiceSettings

log = logging.getLogger(__name__)


def request_settlement(
    settings: OrderServiceSettings, *, transport: httpx.BaseTransport | None = None
) -> dict[str, Any]:
    """Settle every open position whose expiry has passed; the order service's report."""
    key = settings.credential()
    headers = {
        **outgoing_headers(),
        "Authorization": f"Bearer {key.get_secret_value() if key else ''}",
    }
    with httpx.Client(
        base_url=settings.url, timeout=settings.timeout_seconds, transport=transport
    ) as client:
        report: dict[str, Any] = (
            client.post("/v1/settlements/run", headers=headers).raise_for_status().json()
        )
    log.info("expiry settlement: %d settled, %d expiries pending",
             len(report["settled"]), len(report["pending"]))  # fmt: skip
    return report
