"""The one way sync code runs the async market-data client: a private event loop in a thread.

The client has one implementation of every fetch, and it is async (the order path awaits it on
the service's loop). A caller that is itself sync (a Celery task, a thread, a sync route) hands
the coroutine to this loop with `asyncio.run_coroutine_threadsafe` and waits for the result: the
breakers, the fallback and the connection pool are the same objects either way, and the caller's
own loop, if any, is never blocked by another's I/O. Many threads may call at once; their fetches
run concurrently on the one loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread, started on first use, stopped by `close()`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._loop is not None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the private loop and wait for its result (or its exception)."""
        loop = self._started()
        if _running_loop() is loop:
            coroutine.close()
            raise RuntimeError(f"{self.name}: a sync call made on its own loop would deadlock")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def close(self, last: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run `last` (a clean-up on this loop) if started, then stop the loop and its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            if last is not None:
                last.close()
            return
        asyncio.run_coroutine_threadsafe(_finish(last), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _finish(last: Coroutine[Any, Any, Any] | None) -> None:
    """Run the clean-up, then cancel what is left (a background probe) and wait for it."""
    if last is not None:
        await last
    others = asyncio.all_tasks() - {asyncio.current_task()}
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
