"""Alerts: a WARNING per failing check, a webhook post with retries, a cooldown derived from the
stored runs, and a recovery notice."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from optrade.calendar import IST
from optrade.db.models import QualityRun
from optrade.settings import reset_all_settings
from quality_service.notify import Notifier, Webhook, build_notifier
from quality_service.runs import run_manual_check
from quality_service.sessions import catch_up
from quality_service.settings import get_quality_settings
from tests.quality_service.conftest import NOW, TradeFactory
from tests.support.http_sink import http_sink

URL = "https://hooks.example.test/services/T000/B000/XXX"


class FakeHook:
    """A webhook endpoint answering with the queued status codes (then 200)."""

    def __init__(self, *responses: int | Exception) -> None:
        self.responses = list(responses)
        self.texts: list[str] = []
        self.attempts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        outcome = self.responses.pop(0) if self.responses else 200
        if isinstance(outcome, Exception):
            raise outcome
        if outcome == 200:
            self.texts.append(json.loads(request.content)["text"])
        return httpx.Response(outcome)

    def webhook(self) -> Webhook:
        client = httpx.Client(transport=httpx.MockTransport(self))
        return Webhook(URL, client, attempts=3, sleep=lambda _: None)

    def notifier(self) -> Notifier:
        return Notifier([self.webhook()])


@pytest.fixture
def failing_day(add_trades: TradeFactory) -> Callable[[], None]:
    add_trades(10, exit_delta=None)  # exit greeks 0%
    return lambda: None


def _alerts(engine: Engine, run_id: int | None) -> list[dict]:
    with Session(engine) as session:
        run = session.get(QualityRun, run_id)
        assert run is not None
        return list(run.details.get("alerts", []))


def test_a_failing_check_logs_a_warning_and_posts_once(
    clean_db: Engine, add_trades: TradeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    add_trades(10, exit_delta=None, model_hash=None)  # exit greeks and ML metadata fail
    hook = FakeHook()

    with caplog.at_level(logging.WARNING, logger="quality_service"):
        run = run_manual_check(clean_db, now=NOW, notifier=hook.notifier())

    failed = [r.getMessage() for r in caplog.records if "FAILED" in r.getMessage()]
    assert len(failed) == 2 and all(r.levelno == logging.WARNING for r in caplog.records)
    assert "exit_greeks" in failed[0] and "ml_metadata" in failed[1]
    [text] = hook.texts
    assert "FAILED Exit Greeks: 0.0% of 10 trades" in text and "ML Metadata" in text
    assert f"manual run #{run.id}" in text
    assert _alerts(clean_db, run.id) == [
        {"check": "exit_greeks", "kind": "failure", "delivered": True},
        {"check": "ml_metadata", "kind": "failure", "delivered": True},
    ]


def test_the_same_failure_is_not_posted_again_within_the_cooldown(
    clean_db: Engine, failing_day: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALITY_ALERT_COOLDOWN_MINUTES", "360")
    hook = FakeHook()

    run_manual_check(clean_db, now=NOW, notifier=hook.notifier())
    quiet = run_manual_check(clean_db, now=NOW + timedelta(hours=5), notifier=hook.notifier())
    loud = run_manual_check(clean_db, now=NOW + timedelta(hours=7), notifier=hook.notifier())

    assert len(hook.texts) == 2
    assert _alerts(clean_db, quiet.id) == [
        {"check": "exit_greeks", "kind": "failure", "suppressed": "cooldown"}
    ]
    assert _alerts(clean_db, loud.id)[0]["delivered"] is True


def test_a_recovery_is_posted_when_a_check_passes_again(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    [broken] = add_trades(1, exit_delta=None)
    add_trades(3)
    hook = FakeHook()
    run_manual_check(clean_db, now=NOW, notifier=hook.notifier())

    with Session(clean_db) as session:  # the exit snapshot is repaired by a backfill
        from optrade.db.models import Trade

        trade = session.get(Trade, broken)
        assert trade is not None
        trade.exit_delta = 0.4
        session.commit()
    run = run_manual_check(clean_db, now=NOW + timedelta(minutes=5), notifier=hook.notifier())

    assert len(hook.texts) == 2
    assert "RECOVERED Exit Greeks: 100.0%" in hook.texts[1]
    assert _alerts(clean_db, run.id) == [
        {"check": "exit_greeks", "kind": "recovery", "delivered": True}
    ]


def test_webhook_retries_transient_errors(
    clean_db: Engine, failing_day: Callable[[], None]
) -> None:
    hook = FakeHook(503, httpx.ConnectError("refused"), 200)

    run = run_manual_check(clean_db, now=NOW, notifier=hook.notifier())

    assert hook.attempts == 3 and len(hook.texts) == 1
    assert _alerts(clean_db, run.id)[0]["delivered"] is True


def test_an_undelivered_alert_is_recorded_and_retried_by_the_next_run(
    clean_db: Engine, failing_day: Callable[[], None], caplog: pytest.LogCaptureFixture
) -> None:
    hook = FakeHook(500, 500, 500)

    first = run_manual_check(clean_db, now=NOW, notifier=hook.notifier())
    second = run_manual_check(clean_db, now=NOW + timedelta(minutes=1), notifier=hook.notifier())

    assert _alerts(clean_db, first.id) == [
        {
            "check": "exit_greeks",
            "kind": "failure",
            "delivered": False,
            "error": "webhook post failed after 3 attempt(s): HTTP 500",
        }
    ]
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert _alerts(clean_db, second.id)[0]["delivered"] is True  # not held back by a cooldown


def test_a_client_error_is_not_retried(clean_db: Engine, failing_day: Callable[[], None]) -> None:
    hook = FakeHook(404)

    run = run_manual_check(clean_db, now=NOW, notifier=hook.notifier())

    assert hook.attempts == 1
    assert _alerts(clean_db, run.id)[0]["error"].endswith("HTTP 404")


def test_without_a_webhook_failures_are_logged_and_recorded(
    clean_db: Engine, failing_day: Callable[[], None], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        run = run_manual_check(clean_db, now=NOW, notifier=None)

    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert _alerts(clean_db, run.id)[0] == {
        "check": "exit_greeks",
        "kind": "failure",
        "delivered": False,
        "error": "no alert channel configured (ALERT_URLS or QUALITY_WEBHOOK_URL)",
    }


def _apprise_notifier(sink_url: str, monkeypatch: pytest.MonkeyPatch) -> Notifier:
    monkeypatch.setenv("ALERT_URLS", f"{sink_url.replace('http://', 'json://')}/alerts")
    monkeypatch.setenv("QUALITY_PUBLIC_URL", "https://quality.example.test")
    reset_all_settings()
    with httpx.Client() as client:
        return build_notifier(get_quality_settings(), client)


def test_a_failed_check_reaches_a_json_webhook_through_apprise(
    clean_db: Engine, add_trades: TradeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_trades(8)
    add_trades(2, exit_delta=None)  # exit greeks 80% < 95%
    with http_sink() as sink:
        notifier = _apprise_notifier(sink.url, monkeypatch)
        run = run_manual_check(clean_db, now=NOW, notifier=notifier)
    [posted] = sink.received
    assert (posted.method, posted.path) == ("POST", "/alerts")
    body = posted.json()
    assert body["type"] == "failure"
    assert body["title"] == f"Optrade data quality: manual run #{run.id} fail"
    message = body["message"]
    assert ":x: FAILED Exit Greeks: 80.0% of 10 trades complete" in message
    assert "Entry Greeks 100.0%, Exit Greeks 80.0%, ML Metadata 100.0%" in message
    assert "Dashboard: https://quality.example.test/quality/dashboard" in message
    assert f"https://quality.example.test/quality/runs/{run.id}?format=text" in message
    assert _alerts(clean_db, run.id) == [
        {"check": "exit_greeks", "kind": "failure", "delivered": True}
    ]


def test_an_apprise_channel_is_retried_then_recorded_as_undelivered(
    clean_db: Engine, failing_day: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [503, 200]
    with http_sink(lambda _: (answers.pop(0) if answers else 500, {})) as sink:
        notifier = _apprise_notifier(sink.url, monkeypatch)
        for channel in notifier.channels:
            channel.sleep = lambda _: None  # type: ignore[attr-defined]
        delivered = run_manual_check(clean_db, now=NOW, notifier=notifier)
        answers.extend([500, 500, 500])
        later = NOW + timedelta(hours=7)  # past the cooldown of the delivered failure
        failed = run_manual_check(clean_db, now=later, notifier=notifier)
    assert len(sink.received) == 2 + 3
    assert _alerts(clean_db, delivered.id)[0]["delivered"] is True
    [record] = _alerts(clean_db, failed.id)
    assert record["delivered"] is False
    assert record["error"].endswith("not delivered after 3 attempt(s)")
    assert "127.0.0.1" in record["error"]


def test_a_missed_scheduled_run_alerts_when_it_is_caught_up(
    clean_db: Engine, add_trades: TradeFactory
) -> None:
    add_trades(3)  # complete: nothing fails, yet the missed 15:45 run is news
    hook = FakeHook()
    monday_morning = datetime(2025, 12, 8, 9, 0, tzinfo=IST)  # Friday 5 Dec never ran

    caught = catch_up(clean_db, now=monday_morning, notifier=hook.notifier())

    assert caught is not None
    [text] = hook.texts
    assert "MISSED the scheduled check of 2025-12-05 at 15:45 IST" in text
    assert _alerts(clean_db, caught.run.id) == [
        {"check": "schedule", "kind": "missed", "delivered": True}
    ]


def test_an_unknown_alert_url_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ALERT_URLS", "nosuchscheme://secret-token@host, json://127.0.0.1:9/x")
    reset_all_settings()
    with httpx.Client() as client, caplog.at_level(logging.ERROR):
        notifier = build_notifier(get_quality_settings(), client)
    assert len(notifier.channels) == 1
    assert "nosuchscheme://" in caplog.text and "secret-token" not in caplog.text
