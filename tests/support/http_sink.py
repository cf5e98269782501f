"""A real local HTTP server for tests: records every request, answers through a handler."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    connection: socket.socket | None = None

    def wait_while_connected(self, seconds: float) -> bool:
        """Hold the answer up to `seconds`; False as soon as the client hangs up."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.connection is None:
                time.sleep(left)
                break
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                return False
        return True

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, dict[str, Any]]
Handler = Callable[[Received], Answer]


@dataclass
class HttpSink:
    """What a running sink received, and how many requests it served at once at most."""

    port: int
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def http_sink(handler: Handler = lambda _: (200, {})) -> Iterator[HttpSink]:
    """Serve on a free port in a thread; `handler` turns each request into (status, JSON body)."""
    sink: HttpSink

    class Recorder(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = Received(
                self.command, parts.path, parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length),
                self.connection,
            )  # fmt: skip
            with sink.lock:
                sink.received.append(request)
                sink.in_flight += 1
                sink.max_in_flight = max(sink.max_in_flight, sink.in_flight)
            try:
                status, body = handler(request)
            finally:
                with sink.lock:
                    sink.in_flight -= 1
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up waiting (a test of time limits does that)

        do_GET = do_POST = do_PUT = _serve  # noqa: N815 - http.server's naming

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.daemon_threads = True
    sink = HttpSink(port=int(server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
