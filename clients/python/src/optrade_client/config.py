"""Where the services are and which key to send: one loader for the client and the CLI.

Each value comes from the first place that has it:
- a service's URL: `OPTRADE_ORDER_URL`, `OPTRADE_MARKET_DATA_URL`, `OPTRADE_QUALITY_URL`; else
  `http://127.0.0.1:<port>` with the port `make run` starts it on (`ORDER_PORT`,
  `MARKET_DATA_PORT`, `QUALITY_PORT`; defaults 8000, 8001, 8003);
- the API key: `OPTRADE_API_KEY`, else `API_KEY`.
Each name is looked up in the environment first, then in `./.env` (the file `make run` writes),
whose values are read whole after the first `=` (a key ending in `=` survives).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_FILE = Path(".env")
# service -> (URL variable, port variable, default port)
SERVICE_SETTINGS: dict[str, tuple[str, str, int]] = {
    "order": ("OPTRADE_ORDER_URL", "ORDER_PORT", 8000),
    "market-data": ("OPTRADE_MARKET_DATA_URL", "MARKET_DATA_PORT", 8001),
    "quality": ("OPTRADE_QUALITY_URL", "QUALITY_PORT", 8003),
}
API_KEY_NAMES = ("OPTRADE_API_KEY", "API_KEY")


@dataclass(frozen=True)
class Connection:
    """The services' URLs and the API key (None: mutating calls will answer 401)."""

    urls: dict[str, str]
    api_key: str | None


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """`NAME=value` lines of a dotenv file (comments, blanks and `export ` tolerated)."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def load_connection(
    environ: Mapping[str, str] | None = None, env_file: Path = ENV_FILE
) -> Connection:
    """The connection the environment and `.env` describe (see the module's docstring)."""
    sources = [os.environ if environ is None else environ, read_env_file(env_file)]

    def lookup(name: str) -> str | None:
        for source in sources:
            value = (source.get(name) or "").strip()
            if value:
                return value
        return None

    urls: dict[str, str] = {}
    for service, (url_name, port_name, default_port) in SERVICE_SETTINGS.items():
        url = lookup(url_name) or f"http://127.0.0.1:{lookup(port_name) or default_port}"
        urls[service] = url.rstrip("/")
    api_key = next((key for name in API_KEY_NAMES if (key := lookup(name))), None)
    return Connection(urls, api_key)
