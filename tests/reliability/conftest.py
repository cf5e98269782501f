"""Real processes of the three services for the reliability tests (one set per test module)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_API_KEY
from tests.support.processes import ServiceProcess


@dataclass(frozen=True)
class Service:
    name: str
    process: ServiceProcess
    log_path: Path

    @property
    def url(self) -> str:
        return self.process.url


def _start(process: ServiceProcess) -> ServiceProcess:
    return process.start(timeout=90.0)


@pytest.fixture(scope="module")
def services(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Service]]:
    """market-data (simulated), order (pointed at that market-data process) and quality."""
    tmp = tmp_path_factory.mktemp("services")
    common = {"API_KEY": TEST_API_KEY, "APP_ENV": "test", "LOG_LEVEL": "INFO"}
    market_data = ServiceProcess(
        "market_data_service.main:create_app",
        env={**common, "MARKET_DATA_PROVIDER": "simulated", "MARKET_DATA_FAULT": "none"},
        log_path=tmp / "market-data.log",
    )
    order = ServiceProcess(
        "order_service.main:create_app",
        env={
            **common,
            "DATABASE_URL": database_url,
            # Only the URL is needed up front; the processes start side by side below.
            "MARKET_DATA_PRIMARY_URL": market_data.url,
            "MARKET_DATA_FALLBACK_URL": market_data.url,
            # Orders at "now" on the simulated market must fill whatever the hour the suite runs.
            "ALLOW_OFF_HOURS_ORDERS": "true",
        },
        log_path=tmp / "order.log",
    )
    quality = ServiceProcess(
        "quality_service.main:create_app",
        env={
            **common,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.db'}",
            "CELERY_RESULT_BACKEND": f"db+sqlite:///{tmp / 'results.db'}",
        },
        log_path=tmp / "quality.log",
    )
    named = {"market-data": market_data, "order": order, "quality": quality}
    try:
        # Each process takes ~15 s to import and become healthy: start them concurrently.
        with ThreadPoolExecutor(max_workers=len(named)) as pool:
            for future in [pool.submit(_start, process) for process in named.values()]:
                future.result()
        yield {name: Service(name, process, tmp / f"{name}.log") for name, process in named.items()}
    finally:
        for process in named.values():
            process.stop()
