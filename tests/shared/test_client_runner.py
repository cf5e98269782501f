"""The one runner of sync callers: coroutines on a private loop in a daemon thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from optrade.clients.runner import LoopThread


def test_a_sync_caller_gets_the_result_or_the_exception_from_the_private_loop() -> None:
    runner = LoopThread("test-runner")

    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    async def fails() -> None:
        raise ValueError("no quote")

    try:
        assert runner.run(where()) == "test-runner"
        with pytest.raises(ValueError, match="no quote"):
            runner.run(fails())
    finally:
        runner.close()
    assert not runner.started


def test_a_sync_call_from_inside_another_event_loop_does_not_need_that_loop() -> None:
    runner = LoopThread("test-runner")

    async def one() -> int:
        return 1

    async def service_loop() -> int:
        return runner.run(one())  # a sync helper called from async code still completes

    try:
        assert asyncio.run(service_loop()) == 1
    finally:
        runner.close()


def test_closing_runs_the_clean_up_cancels_what_is_left_and_ends_the_thread() -> None:
    runner = LoopThread("test-runner")
    cleaned: list[str] = []
    cancelled = threading.Event()

    async def background() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def start_background() -> None:
        asyncio.get_running_loop().create_task(background())
        await asyncio.sleep(0)

    async def clean_up() -> None:
        cleaned.append("pools closed")

    runner.run(start_background())
    thread = runner._thread
    runner.close(clean_up())
    assert cleaned == ["pools closed"] and cancelled.is_set()
    assert thread is not None and not thread.is_alive()
