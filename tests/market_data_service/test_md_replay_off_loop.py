"""A cold replay quote parses its snapshot file in a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from market_data_service.providers.base import Chain
from market_data_service.providers.nse_replay import NseReplayProvider
from tests.market_data_service.conftest import in_process_client, replay_settings

MORNING = "2025-12-02T09:34:45+05:30"


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_cold_quote_parses_off_the_event_loop_and_is_cached(
    nse_snapshot_dir: Path, monkeypatch: Any
) -> None:
    parses: list[bool] = []  # per parse: was it on the event loop?
    chains: list[bool] = []
    original_parse = NseReplayProvider._parse_file
    original_chain = NseReplayProvider.chain

    def parse_file(self: NseReplayProvider, item: Any) -> Any:
        parses.append(_on_event_loop())
        return original_parse(self, item)

    def chain(self: NseReplayProvider, *args: Any) -> Chain:
        chains.append(_on_event_loop())
        return original_chain(self, *args)

    monkeypatch.setattr(NseReplayProvider, "_parse_file", parse_file)
    monkeypatch.setattr(NseReplayProvider, "chain", chain)
    params = {"expiry": "2025-12-02", "strike": 26000, "option_type": "CE", "as_of": MORNING}
    with in_process_client(replay_settings(nse_snapshot_dir)) as client:
        startup_parses = len(parses)  # readiness parses the newest file of each underlying
        first = client.get("/v1/quote/NIFTY", params=params)
        assert first.status_code == 200, first.text
        cold_parses = len(parses) - startup_parses
        second = client.get("/v1/quote/NIFTY", params=params)
        assert second.status_code == 200, second.text
    assert cold_parses == 1  # the morning snapshot was not parsed at startup
    assert len(parses) == startup_parses + 1  # the second quote came from the cache
    assert chains == [False, False]
    assert not any(parses[startup_parses:])  # startup may parse before serving; requests never
    assert first.json() == second.json()
