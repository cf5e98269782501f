"""Settings per concern, read from the environment (and `.env`) only when first asked for.

Nothing here is read at import time: every accessor is a cached function registered with
`cached_settings`, so tests can set the environment and call `reset_all_settings()`, which forgets
every service's cached settings at once. Each service's settings carry their own prefix
(`ORDER_`, `MARKET_DATA_`, `MARKET_DATA_CLIENT_`, `QUALITY_`, ...); names that predate a prefix are
still read through `deprecated_env()` for one release (docs/configuration.md lists them).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S")
_CACHES: list[Any] = []


def cached_settings(read: Callable[[], S]) -> Callable[[], S]:
    """Cache a settings accessor (read once, when first asked) and register it for resets."""
    cached = lru_cache(maxsize=None)(read)
    _CACHES.append(cached)
    return cached


def reset_all_settings() -> None:
    """Forget every cached settings object, so the next access reads the environment (tests)."""
    for cached in _CACHES:
        cached.cache_clear()


def deprecated_env(name: str, *old_names: str) -> AliasChoices:
    """Read `name`, else a deprecated name it replaced (kept for one release; `name` wins)."""
    return AliasChoices(name, *old_names)


DEFAULT_SQLITE_URL = "sqlite:///./data/optrade.db"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "placeholder", "xxx", "todo"}


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")


class DatabaseSettings(_Base):
    """Where the shared trade database lives."""

    database_url: str = DEFAULT_SQLITE_URL
    database_echo: bool = False
    database_pool_size: int = 10
    database_max_overflow: int = 20


class AppSettings(_Base):
    """Environment-wide settings: environment name, API key, logging."""

    app_env: Literal["development", "test", "production"] = "development"
    api_key: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class RequestLimitSettings(_Base):
    """What a request body may be, checked before the body is parsed."""

    model_config = SettingsConfigDict(env_prefix="REQUEST_", env_file=".env", extra="ignore")

    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    max_json_depth: int = Field(default=32, ge=2, le=200)


class ConfigurationError(RuntimeError):
    """A setting is missing or unsafe for the environment the service runs in."""


@cached_settings
def get_database_settings() -> DatabaseSettings:
    return DatabaseSettings()


@cached_settings
def get_app_settings() -> AppSettings:
    return AppSettings()


@cached_settings
def get_request_limit_settings() -> RequestLimitSettings:
    return RequestLimitSettings()


def check_production_settings(app: AppSettings, db: DatabaseSettings) -> None:
    """Refuse to start in production with a missing or placeholder secret, or on SQLite."""
    if app.app_env != "production":
        return
    key = app.api_key.get_secret_value() if app.api_key else ""
    if key.strip().lower() in PLACEHOLDER_SECRETS or len(key) < 16:
        raise ConfigurationError(
            "API_KEY must be set to a real secret of at least 16 characters when APP_ENV=production"
        )
    if db.database_url.startswith("sqlite"):
        raise ConfigurationError(
            "DATABASE_URL must point at PostgreSQL when APP_ENV=production "
            "(SQLite is the development default)"
        )
