"""Instructions per open+close round trip of the order service, counted by callgrind.

    python -m bench.instructions [ROUND_TRIPS]        (needs valgrind; PostgreSQL if
                                                       BENCH_DATABASE_URL is set, else SQLite)

Wall-clock CPU on a shared machine varies by ±20 % between runs, so a change of a few percent to
the order path cannot be told from noise by `make bench`. This counts what the service executes
instead: the order service runs as usual (uvicorn, HTTP, the simulated market data) but under
`valgrind --tool=callgrind --instr-atstart=no`; after a warm-up the count is switched on
(`callgrind_control -i on`) for ROUND_TRIPS round trips at concurrency 8, then off. The same code
gives the same count to about half a percent (how requests interleave still varies) whatever else
the machine does; compare two commits by running this in each. It is not part of `make bench`
(valgrind makes the service ~50x slower) and counts instructions, not time: memory stalls and
lock waits do not show.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_export import scratch_database  # noqa: E402
from bench.bench_orders import API_KEY, MARKET_DATA, ORDERS, drive, listed_option  # noqa: E402

WARM_UP = 48
CONCURRENCY = 8


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(base: str, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the order service under valgrind did not answer at {base}")


def count(round_trips: int) -> int:
    """Instructions the order service executes per round trip."""
    from tests.support.processes import ServiceProcess

    with scratch_database() as url, tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        market = ServiceProcess(MARKET_DATA, env={"APP_ENV": "test", "LOG_LEVEL": "WARNING"},
                                log_path=logs / "market-data.log")  # fmt: skip
        market.start(timeout=120)
        port = _free_port()
        env = {
            **os.environ, "APP_ENV": "test", "LOG_LEVEL": "WARNING",
            "ALLOW_OFF_HOURS_ORDERS": "true", "ORDER_ACCOUNT_CAPITAL": "100000000000",
            "DATABASE_URL": url, "API_KEY": API_KEY,
            "MARKET_DATA_CLIENT_PRIMARY_URL": market.url,
            "MARKET_DATA_CLIENT_FALLBACK_URL": market.url,
            "MARKET_DATA_CLIENT_READ_TIMEOUT": "60",  # the service is slow under valgrind
        }  # fmt: skip
        report = logs / "callgrind.log"
        command = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={logs / 'callgrind.out'}",
            sys.executable, "-m", "uvicorn", ORDERS, "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip
        with report.open("w") as out:
            service = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out,
                                       stderr=subprocess.STDOUT)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, 600)
            order = listed_option(market.url)
            drive([{"kind": "round_trip", "base": base}] * WARM_UP, CONCURRENCY, order)
            toggle = ["callgrind_control", "-i"]
            subprocess.run([*toggle, "on", str(service.pid)], check=True, capture_output=True)
            drive([{"kind": "round_trip", "base": base}] * round_trips, CONCURRENCY, order)
            subprocess.run([*toggle, "off", str(service.pid)], check=True, capture_output=True)
        finally:
            service.terminate()
            service.wait(120)
            market.stop()
        for line in report.read_text().splitlines():
            if "Collected :" in line:
                return int(line.rsplit(maxsplit=1)[-1].replace(",", "")) // round_trips
    raise RuntimeError(f"callgrind reported no count; see {report}")


def main() -> None:
    round_trips = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    print(f"{count(round_trips):,} instructions per open+close round trip")


if __name__ == "__main__":
    main()
