"""A real local HTTP server in front of a scripted market-data handler, for the client's tests.

The handler speaks httpx's types (`httpx.Request` in, `httpx.Response` out) because they are
easy to build and to inspect; the client on the other side is the real one over aiohttp and a
socket. A handler that raises `httpx.TimeoutException` makes the server hold the answer until the
client gives up (its read timeout); one that raises any other `httpx.TransportError` makes it
drop the connection unanswered.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

MarketHandler = Callable[[httpx.Request], httpx.Response]
HOLD_AT_MOST = 10.0  # seconds a "timeout" answer is held if the client never hangs up


def _hold_until_hung_up(connection: socket.socket) -> None:
    deadline = time.monotonic() + HOLD_AT_MOST
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([connection], [], [], min(left, 0.05))
        if readable and not connection.recv(1, socket.MSG_PEEK):
            return


@contextmanager
def serve_market_data(handler: MarketHandler) -> Iterator[str]:
    """Serve `handler` on a free local port in a thread; yields the base URL."""

    class Served(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real service answers a pooled client

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            host, port = self.server.server_address[:2]
            request = httpx.Request(
                "GET", f"http://{host!s}:{port}{self.path}", headers=dict(self.headers.items())
            )
            try:
                response = handler(request)
            except httpx.TimeoutException:
                _hold_until_hung_up(self.connection)
                self.close_connection = True
                return
            except httpx.TransportError:
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            body = response.content
            self.send_response(response.status_code)
            self.send_header(
                "Content-Type", response.headers.get("Content-Type", "application/json")
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Served)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
