"""The dashboard and alert rules that ship in deploy/ are valid and watch metrics that exist.

`promtool` (Debian's `prometheus` package; `.ci/run` installs it) checks and unit-tests the alert
rules and parses every dashboard query; the metric names the dashboard and the rules use are
compared with what the three services, run as processes, actually export on /metrics.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from optrade.calendar import IST, is_trading_day
from tests.conftest import TEST_API_KEY
from tests.reliability.conftest import Service
from tests.reliability.conftest import services as services  # the fixture, for this module
from tests.support.orders_processes import listed_option, order_body

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "optrade-dashboard.json"
RULES = REPO / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts.test.yaml"
MONITORING = REPO / "deploy" / "k8s" / "monitoring"
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
PANEL_TYPES = {"row", "timeseries", "stat", "bargauge", "table", "state-timeline", "gauge"}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (apt-get install prometheus; .ci/run installs it)",
)


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _dashboard_queries() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def _rule_queries() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and labels left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    text = re.sub(r"(?<![A-Za-z0-9_:])[0-9][0-9.]*(e[+-]?[0-9]+)?", " ", text)  # numbers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    tokens = re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?", text)
    return {
        m.group().strip()
        for m in tokens
        if not m.group(1) and m.group().strip().lower() not in PROMQL_WORDS
    }


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket"
        '{route="/x"}[5m]))) / on (service) group_left max(optrade_build_info) and time() '
        "- foo_seconds > 1e3"
    )
    assert metric_names(expr) == {
        "http_request_duration_seconds_bucket",
        "optrade_build_info",
        "foo_seconds",
    }


# --- the Grafana dashboard ------------------------------------------------------------------


def test_the_dashboard_loads_as_a_grafana_dashboard() -> None:
    dashboard = _dashboard()
    assert {"title", "uid", "panels", "schemaVersion", "templating", "time"} <= set(dashboard)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        assert panel["type"] in PANEL_TYPES, panel["type"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
    for panel in _panels():
        assert panel["title"] and panel["description"], panel["id"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_the_dashboard_shows_what_operations_asks_for() -> None:
    """Order latency and rate, snapshot sources, breaker states, coverage per check, run age."""
    queries = " ".join(_dashboard_queries())
    for wanted in (
        'route="/v1/orders"',
        "http_request_duration_seconds_bucket",
        "order_snapshots_total",
        "market_data_breaker_state",
        "quality_check_coverage_ratio",
        "time() - max(quality_last_run_timestamp_seconds)",
    ):
        assert wanted in queries, wanted


@needs_promtool
def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """Each query, as a recording rule, passes promtool's PromQL parser."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(_dashboard_queries())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _promtool("check", "rules", str(path))


# --- the alert rules ------------------------------------------------------------------------


def _promtool(*args: str) -> str:
    done = subprocess.run(
        ["promtool", *args], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    assert "SUCCESS: 7 rules found" in _promtool("check", "rules", str(RULES))


@needs_promtool
def test_each_alert_fires_on_its_case_and_not_otherwise() -> None:
    _promtool("test", "rules", str(RULE_TESTS))


def test_the_rules_alert_on_what_operations_asks_for() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    assert {
        "OptradeQualityCheckFailed",
        "OptradeScheduledQualityRunOverdue",
        "OptradeFallbackShareHigh",
        "OptradeBreakerOpen",
    } <= alerts
    tested = RULE_TESTS.read_text()
    assert all(f"alertname: {alert}" in tested for alert in alerts - {"OptradeQualityRunsMissing"})


def test_the_prometheusrule_carries_the_same_rules() -> None:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def test_the_servicemonitor_scrapes_every_http_service() -> None:
    monitor = yaml.safe_load((MONITORING / "servicemonitor.yaml").read_text())
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    k8s_services = [
        doc
        for path in sorted((REPO / "deploy" / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "Service"
    ]
    names = set()
    for service in k8s_services:
        assert selector.items() <= service["metadata"]["labels"].items(), service
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}, service
        names.add(service["metadata"]["name"])
    assert names == {"market-data-primary", "market-data-fallback", "order", "quality-api"}
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == ["prometheusrule.yaml", "servicemonitor.yaml"]


# --- against the running services -----------------------------------------------------------


def _recent_session() -> datetime:
    """10:00 IST of the latest regular trading day whose 10:30 has passed: a closed trade then
    falls in the quality window of the last days."""
    now = datetime.now(IST)
    day = now.date()
    while True:
        at = datetime.combine(day, time(10, 0), tzinfo=IST)
        if is_trading_day(day, regular_only=True) and at + timedelta(minutes=30) < now:
            return at
        day -= timedelta(days=1)


def _exported(service: Service) -> set[str]:
    text = httpx.get(f"{service.url}/metrics", timeout=60).raise_for_status().text
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


@pytest.mark.slow
def test_every_metric_the_dashboard_and_rules_name_is_exported(
    services: dict[str, Service],
) -> None:
    """After one order, one close and one quality run, every named metric is on some /metrics."""
    session = _recent_session()
    option = listed_option(services["market-data"].url, at=session)
    with httpx.Client(headers=AUTH, timeout=60) as api:
        body = order_body(option, as_of=session.isoformat())
        opened = api.post(f"{services['order'].url}/v1/orders", json=body)
        assert opened.status_code == 201, opened.text
        close = {"as_of": (session + timedelta(minutes=30)).isoformat()}
        closed = api.post(
            f"{services['order'].url}/v1/positions/{opened.json()['position']['id']}/close",
            json=close,
        )
        assert closed.status_code == 200, closed.text
        # The trade is backdated, so it is a replay trade: a live-only run would not count it.
        checks = f"{services['quality'].url}/quality/checks"
        run = api.post(checks, params={"lookback_days": 10, "mode": "all"})
        assert run.status_code == 201, run.text
    exported = set().union(*(_exported(service) for service in services.values()))
    named = set().union(*(metric_names(q) for q in _dashboard_queries() + _rule_queries()))
    assert named, "no metric names found in the dashboard and rules"
    assert named <= exported, f"named but not exported: {sorted(named - exported)}"
    assert "optrade_build_info" in exported
