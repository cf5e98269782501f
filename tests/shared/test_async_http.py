"""The order path's aiohttp GET: answers as httpx responses, failures as httpx's exceptions (the
market-data client maps those to `timeout` / `transport error`), one session per event loop."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from optrade.clients.async_http import AiohttpGetter

ANSWER = b'{"detail": "no such strike", "type": "/problems/not-found"}'


async def _server(handler: object) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _getter(url: str, read_timeout: float = 2.0) -> AiohttpGetter:
    return AiohttpGetter(url, connect_timeout=0.5, read_timeout=read_timeout, max_connections=4)


def test_an_answer_comes_back_as_an_httpx_response_with_its_query_encoded() -> None:
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json\r\n"
            + f"Content-Length: {len(ANSWER)}\r\n\r\n".encode()
            + ANSWER
        )
        await writer.drain()
        writer.close()

    async def scenario() -> httpx.Response:
        server, url = await _server(answer)
        getter = _getter(url)
        try:
            params = {"as_of": "2025-12-02T09:34:45+05:30", "strike": "26000"}
            return await getter.get(
                "/v1/quote/NIFTY", params=params, headers={"X-Request-ID": "r1"}
            )
        finally:
            await getter.aclose()
            server.close()

    response = asyncio.run(scenario())
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/not-found"
    assert response.headers["Content-Type"] == "application/problem+json"
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
            with pytest.raises(httpx.ReadTimeout):
                await getter.get("/v1/quote/NIFTY", params={}, headers={})
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
            with pytest.raises(httpx.ConnectError):
                await getter.get("/v1/quote/NIFTY", params={}, headers={})
        finally:
            await getter.aclose()

    asyncio.run(scenario())


def test_each_event_loop_gets_its_own_session() -> None:
    getter = _getter("http://127.0.0.1:1")

    async def session_id() -> int:
        return id(getter._current())

    async def same_loop_twice() -> tuple[int, int]:
        return await session_id(), await session_id()

    first, again = asyncio.run(same_loop_twice())
    assert first == again  # pooled: one session per loop
    asyncio.run(getter.aclose())  # closes nothing twice; a later loop makes a new session
    assert getter._session is None
