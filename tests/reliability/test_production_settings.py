"""With APP_ENV=production every process refuses to start on a missing or placeholder API key, on
SQLite, or (worker, beat, quality API) on the serverless SQLite broker, with a message naming the
setting, and without printing the key. Started as real processes, the way a deployment starts
them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optrade.settings import (
    AppSettings,
    ConfigurationError,
    DatabaseSettings,
    check_production_settings,
)
from quality_service.settings import CelerySettings, check_production_celery
from tests.support.processes import REPO_ROOT, free_port, uvicorn_command

GOOD_KEY = "k3y-0f-at-least-16-chars"
PG = "postgresql://postgres@127.0.0.1:5432/nowhere"
REDIS = "redis://127.0.0.1:6379/15"

UVICORN_APPS = {
    "order": "order_service.main:create_app",
    "quality API": "quality_service.main:create_app",
}
CELERY = [sys.executable, "-m", "celery", "-A", "quality_service.celery_app"]


@pytest.mark.parametrize("key", [None, "change-me", "CHANGEME", "short-key", "   "])
def test_a_missing_or_placeholder_key_is_refused(key: str | None) -> None:
    app = AppSettings(app_env="production", api_key=key)
    with pytest.raises(ConfigurationError, match="API_KEY"):
        check_production_settings(app, DatabaseSettings(database_url=PG))


def test_sqlite_is_refused_in_production_and_fine_elsewhere() -> None:
    sqlite = DatabaseSettings(database_url="sqlite:///./data/optrade.db")
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        check_production_settings(AppSettings(app_env="production", api_key=GOOD_KEY), sqlite)
    check_production_settings(AppSettings(app_env="development"), sqlite)
    check_production_settings(
        AppSettings(app_env="production", api_key=GOOD_KEY), DatabaseSettings(database_url=PG)
    )


@pytest.mark.parametrize("setting", ["broker_url", "result_backend"])
def test_the_sqlite_broker_is_refused_in_production(setting: str) -> None:
    production = AppSettings(app_env="production", api_key=GOOD_KEY)
    redis = {"broker_url": REDIS, "result_backend": REDIS}
    check_production_celery(production, CelerySettings(**redis))
    # The defaults are the SQLite ones.
    unsafe = CelerySettings(**{k: v for k, v in redis.items() if k != setting})
    with pytest.raises(ConfigurationError, match=f"CELERY_{setting.upper()}"):
        check_production_celery(production, unsafe)
    check_production_celery(AppSettings(app_env="development"), unsafe)


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_KEY", "CELERY_"))}
    env.update(
        APP_ENV="production",
        API_KEY=GOOD_KEY,
        DATABASE_URL=PG,
        CELERY_BROKER_URL=REDIS,
        CELERY_RESULT_BACKEND=REDIS,
        QUALITY_CATCH_UP_ON_START="false",
    )
    env.update(overrides)
    return env


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


CASES = [
    ("placeholder key", {"API_KEY": "change-me"}, "API_KEY"),
    ("sqlite database", {"DATABASE_URL": "sqlite:///./data/x.db"}, "DATABASE_URL"),
]


@pytest.mark.slow
@pytest.mark.parametrize("service", sorted(UVICORN_APPS))
@pytest.mark.parametrize(("case", "overrides", "named"), CASES, ids=[c[0] for c in CASES])
def test_services_refuse_to_start(
    service: str, case: str, overrides: dict[str, str], named: str
) -> None:
    result = _run(uvicorn_command(UVICORN_APPS[service], free_port()), _env(**overrides))
    assert result.returncode != 0, f"{service} started with a {case}"
    assert named in result.stderr
    assert GOOD_KEY not in result.stderr + result.stdout


@pytest.mark.slow
def test_quality_api_refuses_the_sqlite_broker() -> None:
    env = _env()
    del env["CELERY_BROKER_URL"]
    result = _run(uvicorn_command(UVICORN_APPS["quality API"], free_port()), env)
    assert result.returncode != 0
    assert "CELERY_BROKER_URL" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("role", ["worker", "beat"])
@pytest.mark.parametrize(
    ("case", "overrides", "named"),
    [*CASES, ("sqlite broker", {"CELERY_BROKER_URL": "sqla+sqlite:///./data/b.db"}, "CELERY")],
    ids=[c[0] for c in CASES] + ["sqlite broker"],
)
def test_celery_worker_and_beat_refuse_to_start(
    role: str, case: str, overrides: dict[str, str], named: str, tmp_path: Path
) -> None:
    extra = ["--pool=solo"] if role == "worker" else [f"--schedule={tmp_path / 'beat'}"]
    result = _run([*CELERY, role, "--loglevel=INFO", *extra], _env(**overrides))
    assert result.returncode == 2, f"{role} with a {case}: {result.returncode}\n{result.stderr}"
    assert f"configuration error: {named}" in result.stderr
    assert GOOD_KEY not in result.stderr + result.stdout
