"""Prometheus metrics of the quality service.

The coverage gauges are read from the latest stored run when /metrics is scraped, not from
process memory: scheduled runs happen in the Celery worker, which serves no /metrics, and every
API replica must report the same figures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from optrade.db.models import QualityRun
from quality_service.status import latest_and_overdue

log = logging.getLogger(__name__)

RUNS = Counter(
    "quality_runs_total", "Quality runs performed by this process", ["trigger", "status"]
)


def observe_run(run: QualityRun) -> None:
    RUNS.labels(run.trigger, run.status).inc()


class LatestRunCollector(Collector):
    """Coverage and status per check of the latest evaluated run, and the overdue flag.

    Registered by the API's lifespan for its engine (and unregistered when the app stops).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "quality_check_coverage_ratio",
                "Share (0-1) of trades with every field of the check present (latest run)",
                labels=["check"],
            ),
            GaugeMetricFamily(
                "quality_check_status",
                "1 for the status each check had in the latest run",
                labels=["check", "status"],
            ),
            GaugeMetricFamily(
                "quality_last_run_timestamp_seconds", "Start of the latest evaluated run"
            ),
            GaugeMetricFamily(
                "quality_scheduled_run_overdue",
                "1 when a trading day's 16:30 IST passed without a scheduled run",
            ),
        )

    def collect(self) -> Iterator[Metric]:
        try:
            latest, overdue = latest_and_overdue(self.engine, datetime.now(UTC))
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database does
            log.exception("quality metrics unavailable")
            return
        coverage, status, last_run, overdue_gauge = self._families()
        overdue_gauge.add_metric([], 1.0 if overdue else 0.0)
        if latest is not None:
            last_run.add_metric([], latest.started_at.timestamp())
            for check in latest.checks:
                if check.get("coverage") is not None:
                    # Stored in percent, as the report shows it; Prometheus convention is 0-1.
                    coverage.add_metric([check["name"]], float(check["coverage"]) / 100)
                status.add_metric([check["name"], check["status"]], 1.0)
        yield from (coverage, status, last_run, overdue_gauge)
