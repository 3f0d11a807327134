"""A threaded HTTP/1.1 server on loopback that hands each request to a dispatch function (local only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class DropConnection(Exception):
    """Raised by a dispatch function to close the connection without any answer (a lost response)."""


# (method, raw path with query, headers in order, body) -> (status, headers, body)
Dispatch = Callable[[str, str, list[tuple[str, str]], bytes], tuple[int, dict[str, str], bytes]]
OnAnswer = Callable[[str, str, int, float], None]


class LoopbackServer:
    def __init__(self, host: str, port: int, dispatch: Dispatch, name: str, on_answer: OnAnswer | None = None) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler_class(dispatch, on_answer))
        self._server.daemon_threads = True
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


def _handler_class(dispatch: Dispatch, on_answer: OnAnswer | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # header and body go out as separate writes

        def _serve(self) -> None:
            started = time.perf_counter()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, headers, data = dispatch(self.command, self.path, list(self.headers.items()), body)
            except DropConnection:
                self.close_connection = True
                return
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if on_answer:
                on_answer(self.command, self.path, status, (time.perf_counter() - started) * 1000)

        def __getattr__(self, name: str) -> Any:
            # Every method, including ones http.server has never heard of (QUERY, ...), goes to dispatch.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return  # callers log through on_answer

    return Handler
