"""`make run`: migrate, then start every service in the foreground; Ctrl-C stops them all.

Runs on the embedded default (SQLite and a serverless Celery broker under ./data/, or under
OPTRADE_DATA_DIR) unless DATABASE_URL / CELERY_BROKER_URL say otherwise. Settings come from the
environment, then from `.env`; ports are overridable the same way.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("OPTRADE_DATA_DIR") or ROOT / "data")
ENV_FILE = ROOT / ".env"


def _ensure_api_key(env: dict[str, str]) -> str:
    """Use API_KEY from the environment or .env; otherwise generate one into .env."""
    if env.get("API_KEY"):
        return env["API_KEY"]
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            if line.startswith("API_KEY=") and line.split("=", 1)[1].strip():
                return line.split("=", 1)[1].strip()
    key = secrets.token_urlsafe(32)
    with ENV_FILE.open("a") as fh:
        fh.write(f"API_KEY={key}\n")
    ENV_FILE.chmod(0o600)
    print(f"generated a new API key into {ENV_FILE}")
    return key


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _uvicorn(factory: str, port: str) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", factory, "--factory",
        "--host", os.environ.get("HOST", "127.0.0.1"), "--port", port,
    ]  # fmt: skip


def _plan(env: dict[str, str]) -> list[tuple[str, list[str], dict[str, str], str | None]]:
    """(name, command, extra environment, URL) of every process to start."""
    md_primary = env.setdefault("MARKET_DATA_PORT", "8001")
    md_fallback = env.setdefault("MARKET_DATA_FALLBACK_PORT", "8002")
    order_port = env.setdefault("ORDER_PORT", "8000")
    quality_port = env.setdefault("QUALITY_PORT", "8003")
    plan: list[tuple[str, list[str], dict[str, str], str | None]] = []
    factory = "market_data_service.main:create_app"
    plan.append(
        (
            "market-data primary",
            _uvicorn(factory, md_primary),
            {"MARKET_DATA_INSTANCE": "primary"},
            f"http://127.0.0.1:{md_primary}",
        )
    )
    plan.append(
        (
            "market-data fallback",
            _uvicorn(factory, md_fallback),
            {"MARKET_DATA_INSTANCE": "fallback"},
            f"http://127.0.0.1:{md_fallback}",
        )
    )
    if _has("order_service.main"):
        order_env = {
            "MARKET_DATA_PRIMARY_URL": f"http://127.0.0.1:{md_primary}",
            "MARKET_DATA_FALLBACK_URL": f"http://127.0.0.1:{md_fallback}",
        }
        plan.append(
            (
                "order",
                _uvicorn("order_service.main:create_app", order_port),
                order_env,
                f"http://127.0.0.1:{order_port}",
            )
        )
    if _has("quality_service.main"):
        plan.append(
            (
                "quality API",
                _uvicorn("quality_service.main:create_app", quality_port),
                {},
                f"http://127.0.0.1:{quality_port}",
            )
        )
    if _has("quality_service.celery_app"):
        celery = [sys.executable, "-m", "celery", "-A", "quality_service.celery_app"]
        plan.append(
            (
                "quality worker",
                [*celery, "worker", "--loglevel=INFO", "--concurrency=1", "--pool=solo"],
                {"ORDER_SERVICE_URL": f"http://127.0.0.1:{order_port}"},  # the daily backfill
                None,
            )
        )
        plan.append(
            (
                "quality beat",
                [*celery, "beat", "--loglevel=INFO", f"--schedule={DATA / 'celerybeat-schedule'}"],
                {},
                None,
            )
        )
    return plan  # fmt: skip


def main() -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    # The environment wins over .env, and both win over the embedded defaults below.
    from_file = dotenv_values(ENV_FILE) if ENV_FILE.exists() else {}
    env = {**{k: v for k, v in from_file.items() if v is not None}, **os.environ}
    env.setdefault("DATABASE_URL", f"sqlite:///{DATA / 'optrade.db'}")
    env.setdefault("CELERY_BROKER_URL", f"sqla+sqlite:///{DATA / 'celery-broker.db'}")
    env.setdefault("CELERY_RESULT_BACKEND", f"db+sqlite:///{DATA / 'celery-results.db'}")
    env["API_KEY"] = _ensure_api_key(env)
    env.setdefault("APP_ENV", "development")

    print("migrating the database ...", flush=True)
    subprocess.run([sys.executable, "-m", "optrade.db.migrate", "upgrade"], env=env, check=True)

    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    print("\nOptrade is starting:")
    for name, cmd, extra, url in _plan(env):
        procs.append((name, subprocess.Popen(cmd, env={**env, **extra}, cwd=ROOT)))
        print(f"  {name:22s} {url or '(background)'}" + (f"  docs: {url}/docs" if url else ""))
    print(f"\nAPI key: {env['API_KEY']}   (Authorization: Bearer <key>; stored in .env)")
    print("Ctrl-C stops everything.\n", flush=True)

    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs:
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping the stack", flush=True)
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.3)
    for _, proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for _, proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    print("stopped.")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
