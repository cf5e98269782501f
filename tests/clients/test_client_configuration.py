"""The client and the CLI find the services and the key the same way: OPTRADE_*, the ports of
`make run`, then `./.env`; the sync and async clients offer the same operations."""

from __future__ import annotations

import inspect
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from optrade_client import AsyncOptrade, Optrade
from optrade_client.config import load_connection

OPTRADE = str(Path(sys.executable).parent / "optrade")
VARIABLES = (
    *("OPTRADE_ORDER_URL", "OPTRADE_MARKET_DATA_URL", "OPTRADE_QUALITY_URL"),
    *("ORDER_PORT", "MARKET_DATA_PORT", "QUALITY_PORT", "OPTRADE_API_KEY", "API_KEY"),
)


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own and none of the connection variables set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_the_async_client_has_every_method_of_the_sync_client_with_the_same_parameters() -> None:
    sync, async_ = _public(Optrade), _public(AsyncOptrade)
    assert sorted(sync) == sorted(async_)
    for name, signature in sync.items():
        assert list(signature.parameters) == list(async_[name].parameters), name
        for parameter in signature.parameters.values():
            assert parameter.default == async_[name].parameters[parameter.name].default, name


def test_without_settings_the_client_calls_the_make_run_ports(clean: Path) -> None:
    with Optrade() as optrade:
        assert optrade.urls == {"order": "http://127.0.0.1:8000",
                                "market-data": "http://127.0.0.1:8001",
                                "quality": "http://127.0.0.1:8003"}  # fmt: skip
        assert optrade._headers == {}


def test_both_clients_read_the_ports_and_the_key_from_dotenv(clean: Path) -> None:
    (clean / ".env").write_text("# written by make run\nORDER_PORT=9100\nQUALITY_PORT=9103\n"
                                "API_KEY=abc+/def==\n")  # fmt: skip
    with Optrade() as optrade:
        assert optrade.urls["order"] == "http://127.0.0.1:9100"
        assert optrade.urls["quality"] == "http://127.0.0.1:9103"
        assert optrade.urls["market-data"] == "http://127.0.0.1:8001"
        assert optrade._headers == {"Authorization": "Bearer abc+/def=="}
    async_client = AsyncOptrade()
    assert async_client.urls == optrade.urls and async_client._headers == optrade._headers


def test_the_environment_wins_over_dotenv_and_explicit_arguments_win_over_both(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean / ".env").write_text("ORDER_PORT=9100\nAPI_KEY=from-file\n")
    monkeypatch.setenv("ORDER_PORT", "9200")
    monkeypatch.setenv("OPTRADE_QUALITY_URL", "http://quality.internal:80/")
    monkeypatch.setenv("OPTRADE_API_KEY", "from-env")
    connection = load_connection()
    assert connection.urls["order"] == "http://127.0.0.1:9200"
    assert connection.urls["quality"] == "http://quality.internal:80"
    assert connection.api_key == "from-env"
    with Optrade({"order": "http://gateway:8080"}, "explicit") as optrade:
        assert optrade.urls["order"] == "http://gateway:8080"
        assert optrade.urls["quality"] == "http://quality.internal:80"  # the rest still loaded
        assert optrade._headers == {"Authorization": "Bearer explicit"}


def _free_port() -> int:
    with socket.socket() as probe:  # nobody listens on it once this socket closes
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_cli_calls_the_order_port_of_dotenv_and_names_the_url_it_could_not_reach(
    clean: Path,
) -> None:
    port = _free_port()
    (clean / ".env").write_text(f"ORDER_PORT={port}\nAPI_KEY=k\n")
    done = subprocess.run(
        [OPTRADE, "positions"], capture_output=True, text=True, timeout=120, cwd=clean,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert f"server unreachable: http://127.0.0.1:{port}/v1/positions" in done.stderr
