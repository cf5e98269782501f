"""The three services a backtest talks to, as real processes over a replay of real NSE history:
market data (`nse-replay` on a history folder), the order service and the quality API, on one
database. Used by the backtest tests and `bench/bench_backtest.py`."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.conftest import TEST_API_KEY
from tests.support.processes import ServiceProcess

START_TIMEOUT_S = 120.0  # a busy 2-core machine imports a service slowly


@contextmanager
def replay_stack(
    database_url: str, history_dir: Path, vix_file: Path | None, logs: Path
) -> Iterator[dict[str, str]]:
    """Start market data, order and quality; yield their URLs by the client's service names."""
    common = {"API_KEY": TEST_API_KEY, "APP_ENV": "test", "LOG_LEVEL": "WARNING"}
    replay = {"MARKET_DATA_PROVIDER": "nse-replay", "MARKET_DATA_NSE_REPLAY_DIR": str(history_dir),
              "MARKET_DATA_INSTANCE": "primary", "MARKET_DATA_FAULT": "none"}  # fmt: skip
    if vix_file is not None:
        replay["MARKET_DATA_INDIA_VIX_FILE"] = str(vix_file)
    market_data = ServiceProcess(
        "market_data_service.main:create_app", env={**common, **replay},
        log_path=logs / "market-data.log",
    )  # fmt: skip
    order = ServiceProcess(
        "order_service.main:create_app",
        env={
            **common,
            "DATABASE_URL": database_url,
            "MARKET_DATA_CLIENT_PRIMARY_URL": market_data.url,
            "MARKET_DATA_CLIENT_FALLBACK_URL": "",
            # a cold snapshot parse on a loaded machine must not count as an outage
            "MARKET_DATA_CLIENT_READ_TIMEOUT": "10",
        },  # fmt: skip
        log_path=logs / "order.log",
    )
    quality = ServiceProcess(
        "quality_service.main:create_app",
        env={
            **common,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": f"sqla+sqlite:///{logs / 'broker.db'}",
            "CELERY_RESULT_BACKEND": f"db+sqlite:///{logs / 'results.db'}",
        },  # fmt: skip
        log_path=logs / "quality.log",
    )
    named = {"market-data": market_data, "order": order, "quality": quality}
    with ExitStack() as running:
        for process in named.values():
            running.callback(process.stop)
        with ThreadPoolExecutor(max_workers=len(named)) as pool:
            starts = [pool.submit(p.start, START_TIMEOUT_S) for p in named.values()]
            for future in starts:
                future.result()
        yield {name: process.url for name, process in named.items()}
