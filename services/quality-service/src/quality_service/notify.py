"""Where notices go: every apprise URL of `QUALITY_ALERT_URLS` and the legacy `QUALITY_WEBHOOK_URL`.

apprise speaks Telegram (`tgram://`), Discord, Slack, e-mail (`mailto://`), any JSON webhook
(`json://host/path`) and ~100 more; each URL is one channel, retried on its own so a channel that
accepted a notice is not sent it twice. URLs carry tokens: only their masked form is ever logged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import apprise
import httpx
from apprise.manager_plugins import NotificationManager

from quality_service.settings import QualitySettings

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
_KINDS = {
    "failure": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "success": apprise.NotifyType.SUCCESS,
    "info": apprise.NotifyType.INFO,
}
NO_CHANNEL = "no alert channel configured (ALERT_URLS or QUALITY_WEBHOOK_URL)"  # API wording, kept


class AlertDeliveryError(Exception):
    """A channel did not accept the notice after every attempt."""


@dataclass(frozen=True)
class Notice:
    title: str
    body: str
    kind: str = "info"  # failure | warning | success | info

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}"


class Channel(Protocol):
    name: str

    def send(self, notice: Notice) -> None:
        """Deliver `notice` or raise AlertDeliveryError."""


def _backoff(attempt: int, backoff_s: float, sleep: Callable[[float], None]) -> None:
    if attempt:
        sleep(backoff_s * 2 ** (attempt - 1))


class Webhook:
    """Posts `{"text": ...}` (Slack-compatible) to one URL, retrying transport errors, 429, 5xx."""

    name = "QUALITY_WEBHOOK_URL"

    def __init__(
        self,
        url: str,
        client: httpx.Client,
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.client = client
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep

    def send(self, notice: Notice) -> None:
        self.post(notice.text)

    def post(self, text: str) -> None:
        last = "no attempt made"
        for attempt in range(self.attempts):
            _backoff(attempt, self.backoff_s, self.sleep)
            try:
                response = self.client.post(self.url, json={"text": text})
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.is_success:
                return
            last = f"HTTP {response.status_code}"
            if response.status_code not in _RETRYABLE_STATUS:
                break
        raise AlertDeliveryError(f"webhook post failed after {attempt + 1} attempt(s): {last}")


class AppriseChannel:
    """One apprise URL, retried with backoff when apprise reports the notice was not sent."""

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # apprise logs an unparseable URL whole (tokens included): check the scheme first.
        scheme = url.split("://", 1)[0].lower() if "://" in url else "(no scheme)"
        self.apprise = apprise.Apprise()
        if scheme not in NotificationManager().schemas() or not self.apprise.add(url):
            raise ValueError(
                f"QUALITY_ALERT_URLS: {scheme}:// is not a notification URL apprise knows"
            )
        self.name = self.apprise[0].url(privacy=True)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep

    def send(self, notice: Notice) -> None:
        kind = _KINDS.get(notice.kind, apprise.NotifyType.INFO)
        for attempt in range(self.attempts):
            _backoff(attempt, self.backoff_s, self.sleep)
            if self.apprise.notify(title=notice.title, body=notice.body, notify_type=kind):
                return
        raise AlertDeliveryError(f"{self.name} not delivered after {self.attempts} attempt(s)")


class Notifier:
    """Sends a notice to every channel; says which did not take it."""

    def __init__(self, channels: Sequence[Channel]) -> None:
        self.channels = list(channels)

    def send(self, notice: Notice) -> str | None:
        """Deliver `notice` everywhere; None when every channel took it, else the errors."""
        if not self.channels:
            return NO_CHANNEL
        errors = []
        for channel in self.channels:
            try:
                channel.send(notice)
            except AlertDeliveryError as exc:
                errors.append(str(exc))
        if errors:
            log.error("notice %r not delivered: %s", notice.title, "; ".join(errors))
        return "; ".join(errors) or None


def split_urls(value: str) -> list[str]:
    """`QUALITY_ALERT_URLS` is a list separated by commas, spaces or newlines."""
    return [url for url in re.split(r"[\s,]+", value) if url]


def build_notifier(settings: QualitySettings, client: httpx.Client) -> Notifier:
    """The channels of `QUALITY_ALERT_URLS` and `QUALITY_WEBHOOK_URL` (unusable ones logged)."""
    channels: list[Channel] = []
    for url in split_urls(settings.alert_urls):
        try:
            channels.append(AppriseChannel(url, attempts=settings.webhook_attempts))
        except ValueError as exc:
            log.error("%s", exc)
    if settings.webhook_url:
        channels.append(Webhook(settings.webhook_url, client, attempts=settings.webhook_attempts))
    return Notifier(channels)
