"""Quality-service settings: check thresholds, alerting, and the Celery broker.

Nothing is read at import time; `get_quality_settings()` / `get_celery_settings()` are cached and
`optrade.settings.reset_all_settings()` forgets them (tests).
"""

from __future__ import annotations

from datetime import time

from pydantic import AwareDatetime, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from optrade.settings import AppSettings, ConfigurationError, cached_settings, deprecated_env

DEFAULT_BROKER_URL = "sqla+sqlite:///./data/celery-broker.db"
DEFAULT_RESULT_BACKEND = "db+sqlite:///./data/celery-results.db"


class QualitySettings(BaseSettings):
    """`QUALITY_*`: thresholds in percent of trades with every field of a check present."""

    model_config = SettingsConfigDict(env_prefix="QUALITY_", env_file=".env", extra="ignore")

    threshold_entry_greeks: float = Field(95.0, ge=0, le=100)
    threshold_exit_greeks: float = Field(95.0, ge=0, le=100)
    threshold_ml_metadata: float = Field(95.0, ge=0, le=100)
    threshold_market_context: float = Field(95.0, ge=0, le=100)
    threshold_chain_data: float = Field(80.0, ge=0, le=100)
    # Not a percent: how many positions may be open past their expiry's settlement (15:30 IST).
    threshold_open_past_expiry: float = Field(0, ge=0)
    # feature_drift: the PSI above which it fails, only when drift_fails (default: never fails).
    threshold_feature_drift: float = Field(0.25, gt=0)
    drift_warn_psi: float = Field(0.1, gt=0)
    drift_fails: bool = False
    # The reference: a version's first N trading days, or this window when both ends are set.
    drift_reference_days: int = Field(5, ge=1, le=250)
    drift_reference_from: AwareDatetime | None = None
    drift_reference_to: AwareDatetime | None = None
    # Fewer values than this on either side: the feature is not graded (no_data).
    drift_min_samples: int = Field(30, ge=2)
    # Each side reads at most this many trades (every n-th id above it): bounded at any volume.
    drift_max_trades: int = Field(20_000, ge=100)
    # A check below its threshold fails; one below threshold + margin (capped at 100) warns.
    warn_margin: float = Field(2.0, ge=0, le=100)
    failing_ids_limit: int = Field(20, ge=0, le=1000)

    # apprise URLs (tgram://, discord://, slack://, mailto://, json://host/path, ...), separated
    # by commas or spaces: every notice goes to each of them.
    alert_urls: str = Field("", validation_alias=deprecated_env("QUALITY_ALERT_URLS", "ALERT_URLS"))
    # Where people reach the quality API: the base of the dashboard and export links in notices.
    public_url: str = "http://127.0.0.1:8003"
    # Where people reach the order service: the dashboard's "models" link. Unset: the order
    # service on this machine at ORDER_PORT (what `make run` starts; default 8000).
    order_service_url: str | None = None
    order_port: int = Field(8000, ge=1, le=65535, validation_alias="ORDER_PORT")
    # Reads that expose a model's features (a run's certified export, /metrics) are open while
    # unset; set, they need `Authorization: Bearer` this key (or API_KEY).
    read_api_key: SecretStr | None = None
    webhook_url: str | None = (
        None  # a Slack-format {"text": ...} webhook, kept beside QUALITY_ALERT_URLS
    )
    webhook_timeout_seconds: float = Field(5.0, gt=0)
    webhook_attempts: int = Field(3, ge=1, le=10)
    # The same failing check is posted again only after this long (recoveries are always posted).
    alert_cooldown_minutes: int = Field(360, ge=0)

    # End-of-day training: after a passing scheduled run, at or after `training_at` (IST) of its
    # trading date, the worker runs this command once (no shell; split like a shell would).
    training_command: str | None = None
    training_at: time = time(16, 0)
    training_timeout_seconds: int = Field(1800, ge=1, le=86_400)
    training_dir: str = "./data/training"  # where the certified export is written for it
    training_output_tail: int = Field(4000, ge=100, le=100_000)

    # Worker and beat start-up send a catch-up for a missed daily run.
    catch_up_on_start: bool = True
    # After an outage every missed trading date is checked, looking back at most this far.
    catch_up_max_days: int = Field(30, ge=1, le=366)
    # Trades closed into a checked date's window are re-checked up to this many days back.
    recheck_lookback_days: int = Field(30, ge=1, le=366)

    def threshold(self, check: str) -> float:
        return float(getattr(self, f"threshold_{check}"))

    def models_page_url(self) -> str:
        """The order service's per-model page, as a person's browser reaches it."""
        base = self.order_service_url or f"http://127.0.0.1:{self.order_port}"
        return base.rstrip("/") + "/models"


class CelerySettings(BaseSettings):
    """`CELERY_*`: Redis in production; the default is kombu's SQLAlchemy transport on SQLite."""

    model_config = SettingsConfigDict(env_prefix="CELERY_", env_file=".env", extra="ignore")

    broker_url: str = DEFAULT_BROKER_URL
    result_backend: str = DEFAULT_RESULT_BACKEND
    queue: str = "quality"

    # A check task (scheduled, manual, catch-up) is interrupted at its soft limit and retried once;
    # a task still running at its hard limit has its worker process killed.
    check_soft_time_limit_seconds: int = Field(900, ge=1)
    check_time_limit_seconds: int = Field(960, ge=1)
    # One backfill task asks the order service for one batch (ORDER_SERVICE_TIMEOUT_SECONDS).
    backfill_soft_time_limit_seconds: int = Field(420, ge=1)
    backfill_time_limit_seconds: int = Field(480, ge=1)
    # The training task exports a run and runs QUALITY_TRAINING_COMMAND (its own limit, below).
    training_soft_time_limit_seconds: int = Field(2100, ge=1)
    training_time_limit_seconds: int = Field(2160, ge=1)
    # Beat refreshes its single-instance lock this often; the lock lapses after 4x as long.
    beat_lock_refresh_seconds: int = Field(15, ge=1, le=300)

    @model_validator(mode="after")
    def _soft_before_hard(self) -> CelerySettings:
        for kind in ("check", "backfill", "training"):
            soft = getattr(self, f"{kind}_soft_time_limit_seconds")
            hard = getattr(self, f"{kind}_time_limit_seconds")
            if soft >= hard:
                raise ValueError(
                    f"CELERY_{kind.upper()}_SOFT_TIME_LIMIT_SECONDS ({soft}) must be below "
                    f"CELERY_{kind.upper()}_TIME_LIMIT_SECONDS ({hard})"
                )
        return self

    @property
    def visibility_timeout_seconds(self) -> int:
        """Longer than the longest hard limit, so a running task is never handed out again."""
        longest = max(
            self.check_time_limit_seconds,
            self.backfill_time_limit_seconds,
            self.training_time_limit_seconds,
        )
        return 2 * longest + 60


def check_production_celery(app: AppSettings, celery: CelerySettings) -> None:
    """Refuse the serverless SQLite broker and result backend when APP_ENV=production.

    They exist so `make run` needs no server; several hosts cannot share them, and a worker on
    another machine would silently read an empty queue of its own.
    """
    if app.app_env != "production":
        return
    for name, url in (
        ("CELERY_BROKER_URL", celery.broker_url),
        ("CELERY_RESULT_BACKEND", celery.result_backend),
    ):
        scheme = url.split("://", 1)[0]
        if "sqlite" in scheme:
            raise ConfigurationError(
                f"{name} must point at Redis (redis://host:6379/N) when APP_ENV=production "
                f"(the SQLite broker is the development default), not {scheme}://"
            )


@cached_settings
def get_quality_settings() -> QualitySettings:
    return QualitySettings()


@cached_settings
def get_celery_settings() -> CelerySettings:
    return CelerySettings()
