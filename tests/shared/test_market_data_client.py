"""The market-data client against fake market-data instances (real local servers): fallback,
validation, 404 as the caller's error, circuit breakers, request ids; the sync wrappers and the
async calls are one implementation (one set of breakers)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from prometheus_client import REGISTRY

from optrade.clients.market_data import (
    MarketDataClient,
    MarketDataClientSettings,
    QuoteRejected,
    QuoteRequest,
    QuoteUnavailable,
    latest_market_instant,
)
from optrade.domain import IST
from optrade.observability import request_id_var
from tests.support.orders_fakes import EXPIRY, MARKET_AT, FakeMarket, fake_client

REQUEST = QuoteRequest("NIFTY", EXPIRY, Decimal("26100.00"), "PE", MARKET_AT)


def test_primary_serves_and_is_asked_for_the_exact_option_and_instant() -> None:
    primary, fallback = FakeMarket(), FakeMarket()
    with fake_client(primary, fallback) as client:
        captured = client.capture_quote(REQUEST)
    assert captured.source == "primary" and captured.skipped == ()
    assert captured.quote.strike == 26100 and captured.quote.option_type == "PE"
    sent = primary.requests[0]
    assert sent.url.path == "/v1/quote/NIFTY"
    assert dict(sent.url.params) == {
        "expiry": "2025-12-02",
        "strike": "26100",
        "option_type": "PE",
        "as_of": MARKET_AT.isoformat(),
    }
    assert fallback.requests == []


def test_request_id_is_passed_on() -> None:
    primary = FakeMarket()
    token = request_id_var.set("req-abc-123")
    try:
        with fake_client(primary) as client:
            client.capture_quote(REQUEST)
    finally:
        request_id_var.reset(token)
    assert primary.requests[0].headers["X-Request-ID"] == "req-abc-123"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("error500", "HTTP 500"),
        ("garbage", "malformed quote"),
        ("nan", "non-finite delta"),
        ("stale", "stale quote"),
        ("future", "quote from the future"),
        ("mismatch", "quote is for"),
        ("invalid", "malformed quote"),
        ("timeout", "timeout (read)"),
        ("down", "transport error"),
    ],
)
def test_a_failing_primary_falls_back(mode: str, reason: str) -> None:
    primary, fallback = FakeMarket(mode=mode), FakeMarket()
    with fake_client(primary, fallback) as client:
        captured = client.capture_quote(REQUEST)
    assert captured.source == "fallback"
    assert len(captured.skipped) == 1 and captured.skipped[0].startswith(f"primary: {reason}")
    # aiohttp sends an idempotent GET again once when the connection drops unanswered
    assert len(primary.requests) == (2 if mode == "down" else 1)
    assert len(fallback.requests) == 1


def test_quote_age_limit_is_configurable() -> None:
    with fake_client(FakeMarket(mode="stale"), max_quote_age=7200) as lenient:
        assert lenient.capture_quote(REQUEST).source == "primary"


def test_no_provider_answering_raises_one_error_naming_both() -> None:
    with (
        fake_client(FakeMarket(mode="error500"), FakeMarket(mode="timeout")) as client,
        pytest.raises(QuoteUnavailable) as caught,
    ):
        client.capture_quote(REQUEST)
    assert "primary: HTTP 500" in str(caught.value) and "fallback: timeout" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strike": Decimal("26125")}, "strike"),
        ({"expiry": EXPIRY.replace(day=3)}, "expiry"),
        ({"underlying": "NOPE"}, "underlying"),
    ],
)
def test_unknown_option_is_the_callers_error_not_an_outage(
    change: dict[str, object], field: str
) -> None:
    primary, fallback = FakeMarket(), FakeMarket()
    request = QuoteRequest(**{**REQUEST.__dict__, **change})  # type: ignore[arg-type]
    with fake_client(primary, fallback, breaker_fail_max=2) as client:
        for _ in range(4):
            with pytest.raises(QuoteRejected) as caught:
                client.capture_quote(request)
            assert caught.value.field == field and caught.value.status_code == 404
        assert client.breaker_states() == {"primary": "closed", "fallback": "closed"}
    assert fallback.requests == []  # the fallback would say the same


def test_a_structured_error_body_names_the_field() -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        body = {"type": "not_found", "detail": "nothing", "errors": [{"field": "expiry"}]}
        return httpx.Response(404, json=body)

    with fake_client(handler) as client, pytest.raises(QuoteRejected) as caught:
        client.capture_quote(REQUEST)
    assert caught.value.field == "expiry"


def _breaker_gauge(instance: str) -> str | None:
    """The state the gauge marks 1 for `instance`."""
    for state in ("closed", "half-open", "open"):
        labels = {"provider": instance, "state": state}
        if REGISTRY.get_sample_value("market_data_breaker_state", labels) == 1:
            return state
    return None


def test_breaker_opens_after_fail_max_and_skips_the_dead_provider_until_it_half_opens() -> None:
    primary, fallback = FakeMarket(mode="error500"), FakeMarket()
    with fake_client(primary, fallback, breaker_fail_max=3, breaker_reset_timeout=0.3) as client:
        for _ in range(3):
            assert client.capture_quote(REQUEST).source == "fallback"
        assert client.breaker_states()["primary"] == "open"
        assert _breaker_gauge("primary") == "open"
        for _ in range(5):  # open: the primary is not even asked
            captured = client.capture_quote(REQUEST)
            assert captured.source == "fallback" and "circuit breaker open" in captured.skipped[0]
        assert len(primary.requests) == 3

        primary.mode = "ok"
        time.sleep(0.35)  # reset timeout elapsed: this caller still skips the primary ...
        assert client.capture_quote(REQUEST).source == "fallback"
        wait_for(lambda: client.breaker_states()["primary"] == "closed")  # ... a background call
        assert len(primary.requests) == 4  # probed it once, and that closed the breaker
        assert client.capture_quote(REQUEST).source == "primary"
        assert _breaker_gauge("primary") == "closed"


def test_a_failed_trial_call_opens_the_breaker_again_and_costs_callers_nothing() -> None:
    primary = FakeMarket(mode="error500")
    with fake_client(
        primary, FakeMarket(), breaker_fail_max=1, breaker_reset_timeout=0.2
    ) as client:
        client.capture_quote(REQUEST)
        assert client.breaker_states()["primary"] == "open"
        time.sleep(0.25)
        for _ in range(5):  # many callers at once: one background trial, none of them waits
            assert client.capture_quote(REQUEST).source == "fallback"
        wait_for(
            lambda: len(primary.requests) == 2 and client.breaker_states()["primary"] == "open"
        )
        time.sleep(0.05)
        assert len(primary.requests) == 2


def test_when_every_breaker_is_open_the_callers_try_them_anyway() -> None:
    primary, fallback = FakeMarket(mode="down"), FakeMarket(mode="down")
    with fake_client(primary, fallback, breaker_fail_max=1, breaker_reset_timeout=60) as client:
        with pytest.raises(QuoteUnavailable):
            client.capture_quote(REQUEST)
        assert client.breaker_states() == {"primary": "open", "fallback": "open"}
        fallback.mode = "ok"  # came back: the next caller is served at once, not in 60 s
        assert client.capture_quote(REQUEST).source == "fallback"
        assert client.breaker_states() == {"primary": "open", "fallback": "closed"}


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_the_breaker_does_not_serialize_concurrent_requests() -> None:
    """pybreaker's `call()` holds a lock around the call; the client must not, and sync callers
    in many threads share the client's one loop without waiting for each other."""
    inside, most_inside = 0, 0
    lock = threading.Lock()
    good = FakeMarket()

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal inside, most_inside
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
        time.sleep(0.1)
        with lock:
            inside -= 1
        return good(request)

    with fake_client(slow) as client, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: client.capture_quote(REQUEST), range(8)))
    assert most_inside > 1


def test_sync_and_async_callers_share_one_breaker_per_instance() -> None:
    """The order path awaits the client on its loop, the backfill calls it from a thread: the
    failures either one sees open the same breaker."""
    primary = FakeMarket(mode="error500")
    with fake_client(primary, FakeMarket(), breaker_fail_max=2, breaker_reset_timeout=60) as client:
        assert client.capture_quote(REQUEST).source == "fallback"  # the runner's loop

        async def on_the_service_loop() -> list[str]:
            try:
                first = await client.acapture_quote(REQUEST)  # the second failure opens it
                second = await client.acapture_quote(REQUEST)
                return [first.source, second.skipped[0]]
            finally:
                await client.aclose()

        first, skipped = asyncio.run(on_the_service_loop())
    assert first == "fallback" and skipped == "primary: circuit breaker open, not asked"
    assert len(primary.requests) == 2


def test_a_sync_call_after_aclose_still_works_on_a_fresh_loop() -> None:
    with fake_client(FakeMarket()) as client:

        async def serve_and_close() -> str:
            try:
                return (await client.acapture_quote(REQUEST)).source
            finally:
                await client.aclose()

        assert asyncio.run(serve_and_close()) == "primary"
        assert client.capture_quote(REQUEST).source == "primary"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_DATA_PRIMARY_URL", "http://md-a:9001")
    monkeypatch.setenv("MARKET_DATA_FALLBACK_URL", "")
    monkeypatch.setenv("MARKET_DATA_READ_TIMEOUT", "0.8")
    monkeypatch.setenv("MARKET_DATA_BREAKER_FAIL_MAX", "7")
    settings = MarketDataClientSettings()
    assert settings.primary_url == "http://md-a:9001" and settings.fallback_url is None
    assert settings.read_timeout == 0.8 and settings.breaker_fail_max == 7
    assert settings.connect_timeout == 0.25
    client = MarketDataClient.from_settings(settings)
    assert [(i.name, i.base_url) for i in client.instances] == [("primary", "http://md-a:9001")]


@pytest.mark.parametrize(
    ("asked_ist", "latest_ist"),
    [
        ("2025-12-01T10:00:00", "2025-12-01T10:00:00"),  # Monday, in session
        ("2025-12-01T20:00:00", "2025-12-01T15:30:00"),  # Monday evening
        ("2025-12-01T08:00:00", "2025-11-28T15:30:00"),  # Monday before the open
        ("2025-11-29T12:00:00", "2025-11-28T15:30:00"),  # Saturday
    ],
)
def test_quote_age_is_measured_from_the_last_session(asked_ist: str, latest_ist: str) -> None:
    asked = datetime.fromisoformat(asked_ist).replace(tzinfo=IST)
    assert latest_market_instant(asked) == datetime.fromisoformat(latest_ist).replace(tzinfo=IST)


def test_the_closing_quote_is_not_stale_at_night_but_an_older_one_is() -> None:
    night = QuoteRequest(**{**REQUEST.__dict__, "as_of": datetime(2025, 12, 1, 16, 0, tzinfo=UTC)})
    closing = datetime(2025, 12, 1, 10, 0, tzinfo=UTC).isoformat()  # 15:30 IST
    with fake_client(FakeMarket(quote={"as_of": closing})) as client:
        assert client.capture_quote(night).source == "primary"
    morning = datetime(2025, 12, 1, 4, 0, tzinfo=UTC).isoformat()
    with (
        fake_client(FakeMarket(quote={"as_of": morning})) as client,
        pytest.raises(QuoteUnavailable, match="stale"),
    ):
        client.capture_quote(night)


def _no_data(_: httpx.Request) -> httpx.Response:
    detail = "stale: openalgo data for NIFTY 2025-12-02 is from 09:00, 1800 s old (limit 30 s)"
    body = {"type": "/problems/no-data", "detail": detail}  # the kind alone says "no data"
    return httpx.Response(404, json=body)


@pytest.mark.parametrize("primary_answer", ["stale", "no_data"])
def test_stale_is_not_dead_the_fallback_is_asked_and_no_breaker_opens(primary_answer: str) -> None:
    fallback = FakeMarket()
    primary = FakeMarket(mode="stale") if primary_answer == "stale" else _no_data
    with fake_client(primary, fallback, breaker_fail_max=2) as client:
        for _ in range(5):
            captured = client.capture_quote(REQUEST)
            assert captured.source == "fallback" and captured.skipped[0].startswith("primary: ")
        assert client.breaker_states() == {"primary": "closed", "fallback": "closed"}
    assert len(fallback.requests) == 5


def test_no_data_everywhere_is_unavailable_for_this_request_only() -> None:
    with fake_client(_no_data, FakeMarket(mode="stale"), breaker_fail_max=1) as client:
        for _ in range(3):
            with pytest.raises(QuoteUnavailable) as caught:
                client.capture_quote(REQUEST)
            assert "no data" in str(caught.value)
        assert client.breaker_states() == {"primary": "closed", "fallback": "closed"}
