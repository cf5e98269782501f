"""The market-data client's aiohttp GET: whole answers as `HttpAnswer`, no answer as `HttpTimeout`
or `HttpTransportError` (the client maps those to `timeout` / `transport error`), one session per
event loop."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from optrade.clients.async_http import AiohttpGetter, HttpAnswer, HttpTimeout, HttpTransportError

ANSWER = b'{"detail": "no such strike", "type": "/problems/not-found"}'


async def _server(handler: object) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _getter(url: str, read_timeout: float = 2.0) -> AiohttpGetter:
    return AiohttpGetter(url, connect_timeout=0.5, read_timeout=read_timeout, max_connections=4)


def test_an_answer_comes_back_whole_with_its_query_encoded() -> None:
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json\r\n"
            + f"Content-Length: {len(ANSWER)}\r\n\r\n".encode()
            + ANSWER
        )
        await writer.drain()
        writer.close()

    async def scenario() -> HttpAnswer:
        server, url = await _server(serve)
        getter = _getter(url)
        try:
            params = {"as_of": "2025-12-02T09:34:45+05:30", "strike": "26000"}
            return await getter.get(
                "/v1/quote/NIFTY", params=params, headers={"X-Request-ID": "r1"}
            )
        finally:
            await getter.aclose()
            server.close()

    served = asyncio.run(scenario())
    assert served.status == 404
    assert served.json()["type"] == "/problems/not-found"
    assert served.content_type == "application/problem+json"
    request_line = seen[0].split(b"\r\n", 1)[0].decode()
    # "+" must reach the server encoded: a bare "+" in a query string reads as a space.
    assert "as_of=2025-12-02T09:34:45%2B05:30" in request_line, request_line
    assert b"x-request-id: r1" in seen[0].lower()


def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(5)
        finally:  # cancelled when the test's loop ends
            writer.close()

    async def scenario() -> None:
        server, url = await _server(hang)
        getter = _getter(url, read_timeout=0.2)
        try:
            with pytest.raises(HttpTimeout) as caught:
                await getter.get("/v1/quote/NIFTY", params={}, headers={})
            assert caught.value.phase == "read"
        finally:
            await getter.aclose()
            server.close()

    asyncio.run(scenario())


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on once this socket closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        getter = _getter(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(HttpTransportError, match="ClientConnectorError"):
                await getter.get("/v1/quote/NIFTY", params={}, headers={})
        finally:
            await getter.aclose()

    asyncio.run(scenario())


def test_each_event_loop_gets_its_own_session_and_closes_only_its_own() -> None:
    """The service's loop and the client's loop for sync callers use one getter at once."""
    getter = _getter("http://127.0.0.1:1")
    other = asyncio.new_event_loop()
    try:

        async def session() -> aiohttp.ClientSession:
            return getter._current()

        on_other = other.run_until_complete(session())

        async def here() -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
            mine, again = await session(), await session()
            await getter.aclose()
            return mine, again

        mine, again = asyncio.run(here())
        assert mine is again and mine is not on_other  # pooled: one session per loop
        assert mine.closed and not on_other.closed
        other.run_until_complete(getter.aclose())
        assert on_other.closed
    finally:
        other.close()


def test_a_slow_call_may_wait_longer_than_the_pool_read_timeout() -> None:
    """The settlement value may take seconds to build; a quote never may."""

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.4)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    async def scenario() -> tuple[int, str]:
        server, url = await _server(slow)
        getter = _getter(url, read_timeout=0.1)
        try:
            with pytest.raises(HttpTimeout):
                await getter.get("/v1/settlement/NIFTY", params={}, headers={})
            answer = await getter.get(
                "/v1/settlement/NIFTY", params={}, headers={}, read_timeout=2.0
            )
            return answer.status, answer.text
        finally:
            await getter.aclose()
            server.close()

    assert asyncio.run(scenario()) == (200, "{}")
