"""`make run`: migrate, then start every service in the foreground; Ctrl-C stops them all.

Runs on the embedded default (SQLite and a serverless Celery broker under ./data/, or under
OPTRADE_DATA_DIR) unless DATABASE_URL / CELERY_BROKER_URL say otherwise. Settings come from the
environment, then from `.env`, then from the defaults here, for every setting (the market-data
URLs the order service asks included); ports are overridable the same way.

The runner supervises: a process that exits while the stack runs is logged and restarted after a
back-off (1 s, doubling to 30 s; reset once it has run a minute), while the others keep serving,
so killing the primary market-data process shows the fallback at work. Every output line is
labelled with the process it came from. (honcho and foreman stop the whole stack when one process
exits, which is the behaviour this replaces.)
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("OPTRADE_DATA_DIR") or ROOT / "data")
ENV_FILE = ROOT / ".env"
SAMPLE_REPLAY_DIR = ROOT / "samples" / "nse" / "history"
SAMPLE_VIX_FILE = (
    ROOT / "samples" / "nse" / "india_vix" / "india_vix_daily_2025-11-14_to_2025-11-21.csv"
)
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STEADY_AFTER_S = 60.0  # a process that ran this long before exiting restarts after 1 s again
STOP_GRACE_S = 10.0
_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one runner line (labelled like the processes' lines) without interleaving."""
    with _print_lock:
        sys.stdout.write(f"{'run_stack':22s} | {line}\n")
        sys.stdout.flush()


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


def _workers(env: dict[str, str], name: str) -> int:
    """`ORDER_WORKERS` / `MARKET_DATA_WORKERS`: uvicorn worker processes per service (default 1)."""
    raw = env.get(name, "").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise SystemExit(f"{name}={raw!r}: give a whole number of worker processes from 1 to 64")
    return int(raw)


def _uvicorn(factory: str, port: str, workers: int = 1) -> list[str]:
    # With N > 1 uvicorn forks N workers sharing the port and restarts one that dies; each holds
    # its own circuit breakers, database pool and metrics (see docs/operations.md).
    extra = ["--workers", str(workers)] if workers > 1 else []
    return [
        sys.executable, "-m", "uvicorn", factory, "--factory",
        "--host", os.environ.get("HOST", "127.0.0.1"), "--port", port, *extra,
    ]  # fmt: skip


def _fallback_env(env: dict[str, str]) -> dict[str, str]:
    """The fallback instance's own settings: `MARKET_DATA_FALLBACK_PROVIDER` picks its provider
    (a second upstream, e.g. upstox behind an openalgo primary); unset, it runs the primary's."""
    extra = {"MARKET_DATA_INSTANCE": "fallback"}
    if env.get("MARKET_DATA_FALLBACK_PROVIDER"):
        extra["MARKET_DATA_PROVIDER"] = env["MARKET_DATA_FALLBACK_PROVIDER"]
    return extra


def _plan(env: dict[str, str]) -> list[tuple[str, list[str], dict[str, str], str | None]]:
    """(name, command, extra environment, URL) of every process to start."""
    md_primary = env.setdefault("MARKET_DATA_PORT", "8001")
    md_fallback = env.setdefault("MARKET_DATA_FALLBACK_PORT", "8002")
    order_port = env.setdefault("ORDER_PORT", "8000")
    quality_port = env.setdefault("QUALITY_PORT", "8003")
    md_workers = _workers(env, "MARKET_DATA_WORKERS")
    plan: list[tuple[str, list[str], dict[str, str], str | None]] = []
    factory = "market_data_service.main:create_app"
    plan.append(
        (
            "market-data primary",
            _uvicorn(factory, md_primary, md_workers),
            {"MARKET_DATA_INSTANCE": "primary"},
            f"http://127.0.0.1:{md_primary}",
        )
    )
    plan.append(
        (
            "market-data fallback",
            _uvicorn(factory, md_fallback, md_workers),
            _fallback_env(env),
            f"http://127.0.0.1:{md_fallback}",
        )
    )
    if _has("order_service.main"):
        # The environment and .env win: the order service may ask another deployment.
        order_env = {
            "MARKET_DATA_CLIENT_PRIMARY_URL": env.get("MARKET_DATA_CLIENT_PRIMARY_URL")
            or env.get("MARKET_DATA_PRIMARY_URL")  # deprecated name, still honoured
            or f"http://127.0.0.1:{md_primary}",
            "MARKET_DATA_CLIENT_FALLBACK_URL": env.get("MARKET_DATA_CLIENT_FALLBACK_URL")
            or env.get("MARKET_DATA_FALLBACK_URL")
            or f"http://127.0.0.1:{md_fallback}",
        }
        plan.append(
            (
                "order",
                _uvicorn(
                    "order_service.main:create_app", order_port, _workers(env, "ORDER_WORKERS")
                ),
                order_env,
                f"http://127.0.0.1:{order_port}",
            )
        )
        # The order engine settles expired positions (one leads; see order_service.engine).
        plan.append(
            ("order engine", [sys.executable, "-m", "order_service.engine"], order_env, None)
        )
    if _has("quality_service.main"):
        plan.append(
            (
                "quality API",
                _uvicorn("quality_service.main:create_app", quality_port),
                # The dashboard links to the order service's /models where a browser finds it.
                {
                    "QUALITY_ORDER_SERVICE_URL": env.get("QUALITY_ORDER_SERVICE_URL")
                    or f"http://127.0.0.1:{order_port}"
                },
                f"http://127.0.0.1:{quality_port}",
            )
        )
    if _has("quality_service.celery_app"):
        celery = [sys.executable, "-m", "celery", "-A", "quality_service.celery_app"]
        plan.append(
            (
                "quality worker",
                [*celery, "worker", "--loglevel=INFO", "--concurrency=1", "--pool=solo"],
                # The daily backfill asks the order service; the environment may say where.
                {
                    "ORDER_SERVICE_URL": env.get("ORDER_SERVICE_URL")
                    or f"http://127.0.0.1:{order_port}"
                },
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


@dataclass
class Child:
    """One supervised process: how to start it, and its restart back-off."""

    name: str
    command: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF_S
    restart_at: float | None = None  # time.monotonic() of a pending restart
    relays: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command,
            env={"PYTHONUNBUFFERED": "1", **self.env},  # lines reach the relay as they are written
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        self.relays = [_relay(self.name, stream) for stream in (self.proc.stdout, self.proc.stderr)]
        say(f"{self.name} started (pid {self.proc.pid})")

    def exited(self, now: float) -> None:
        """Log the unexpected exit and schedule the restart after the back-off."""
        assert self.proc is not None
        code = self.proc.returncode
        if now - self.started_at >= STEADY_AFTER_S:
            self.backoff = FIRST_BACKOFF_S
        say(f"{self.name} (pid {self.proc.pid}) exited with code {code}; restarting in "
            f"{self.backoff:g} s (the other processes keep serving)")  # fmt: skip
        self.restart_at = now + self.backoff
        self.backoff = min(self.backoff * 2, MAX_BACKOFF_S)


def _relay(name: str, stream: IO[bytes] | None) -> threading.Thread:
    """Copy a child's output to ours line by line, each line labelled with the child's name."""

    def copy() -> None:
        assert stream is not None
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            with _print_lock:
                sys.stdout.write(f"{name:22s} | {line}\n")
                sys.stdout.flush()
        stream.close()

    thread = threading.Thread(target=copy, name=f"relay-{name}", daemon=True)
    thread.start()
    return thread


def supervise(children: list[Child], stopping: Callable[[], bool]) -> None:
    """Restart whatever exits, with back-off, until `stopping()`; then stop every child."""
    while not stopping():
        now = time.monotonic()
        for child in children:
            assert child.proc is not None
            if child.restart_at is None and child.proc.poll() is not None:
                child.exited(now)
            elif child.restart_at is not None and now >= child.restart_at:
                child.start()
        time.sleep(0.2)
    _stop_all(children)


def _stop_all(children: list[Child]) -> None:
    """SIGTERM every child still running, wait for all, SIGKILL any that outlive the grace."""
    running = [c.proc for c in children if c.proc is not None and c.proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for child in children:
        for relay in child.relays:
            relay.join(timeout=2)


def _replay_defaults(env: dict[str, str]) -> str | None:
    """`MARKET_DATA_PROVIDER=nse-replay` without a folder replays the week shipped in
    samples/nse/ (with its India VIX rows); returns the line saying what is replayed."""
    if env.get("MARKET_DATA_PROVIDER") != "nse-replay":
        return None
    if not (env.get("MARKET_DATA_NSE_REPLAY_DIR") or env.get("NSE_REPLAY_DIR")):
        env["MARKET_DATA_NSE_REPLAY_DIR"] = str(SAMPLE_REPLAY_DIR)
        if not (env.get("MARKET_DATA_INDIA_VIX_FILE") or env.get("INDIA_VIX_FILE")):
            env["MARKET_DATA_INDIA_VIX_FILE"] = str(SAMPLE_VIX_FILE)
    folder = env.get("MARKET_DATA_NSE_REPLAY_DIR") or env.get("NSE_REPLAY_DIR")
    instants = f"http://127.0.0.1:{env['MARKET_DATA_PORT']}/v1/replay/instants?underlying=NIFTY"
    return (
        f"Replaying the NSE snapshots under {folder}: ask with as_of "
        f"(e.g. ?as_of=2025-11-18T10:00:00%2B05:30); {instants} lists the instants with data."
    )


def _hours_banner(env: dict[str, str]) -> str:
    if env.get("ALLOW_OFF_HOURS_ORDERS", "false").lower() in ("1", "true", "yes", "on"):
        return (
            "Off-hours orders ALLOWED (ALLOW_OFF_HOURS_ORDERS=true): outside 09:15-15:30 IST they "
            "fill from the last session's closing quote and are marked off_hours."
        )
    return "Orders outside 09:15-15:30 IST on a trading day are refused (422 market_closed)."


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
    if env.get("MARKET_DATA_PROVIDER", "simulated") == "simulated":
        # The simulated market answers at any hour, so a first session works on a weekend too.
        env.setdefault("ALLOW_OFF_HOURS_ORDERS", "true")

    env.setdefault("MARKET_DATA_PORT", "8001")
    replaying = _replay_defaults(env)

    print("migrating the database ...", flush=True)
    subprocess.run([sys.executable, "-m", "optrade.db.migrate", "upgrade"], env=env, check=True)

    children: list[Child] = []
    print("\nOptrade is starting:")
    for name, cmd, extra, url in _plan(env):
        children.append(Child(name, cmd, {**env, **extra}))
        print(f"  {name:22s} {url or '(background)'}" + (f"  docs: {url}/docs" if url else ""))
    print(f"\nAPI key: {env['API_KEY']}   (Authorization: Bearer <key>; stored in .env)")
    print(_hours_banner(env))
    if replaying:
        print(replaying)
    print("Ctrl-C stops everything.\n", flush=True)

    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for child in children:
        child.start()
    supervise(children, lambda: stopping)
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
