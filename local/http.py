"""A threaded HTTP/1.1 server on loopback that hands each request to a dispatch function (local only)."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class DropConnection(Exception):
    """Raised by a dispatch function to close the connection without any answer (a lost response)."""


# (status, headers, body)
Answer = tuple[int, dict[str, str], bytes]


class HoldAnswer(Exception):
    """Raised by a dispatch function to send `answer` only once `seconds` have passed, and only to a client
    still waiting then: if the client hangs up first (its read timeout fired) or the server stops, the
    connection is closed without an answer (a lost response). Nothing here races the client's clock: a
    hold far longer than the client's timeout always ends with the client hanging up."""

    def __init__(self, answer: Answer, seconds: float) -> None:
        super().__init__(f"answer held for {seconds} s")
        self.answer, self.seconds = answer, seconds


_POLL_SECONDS = 0.02  # how often a held answer looks for a hang-up or a stopping server


# (method, raw path with query, headers in order, body) -> (status, headers, body)
Dispatch = Callable[[str, str, list[tuple[str, str]], bytes], Answer]
OnAnswer = Callable[[str, str, int, float], None]


class LoopbackServer:
    def __init__(self, host: str, port: int, dispatch: Dispatch, name: str, on_answer: OnAnswer | None = None) -> None:
        self._stopping = threading.Event()  # ends every held answer (HoldAnswer) without sending it
        self._server = ThreadingHTTPServer((host, port), _handler_class(dispatch, on_answer, self._stopping))
        self._server.daemon_threads = True
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


def _still_waiting_after(connection: socket.socket, seconds: float, stopping: threading.Event) -> bool:
    """Wait `seconds` (inf: for ever) on a request's connection: True if the client is still connected then,
    False as soon as it hangs up or the server is stopping."""
    deadline = time.monotonic() + seconds
    watching = True  # stops watching the socket if the client sends more (pipelining): it is still there
    with selectors.DefaultSelector() as selector:
        selector.register(connection, selectors.EVENT_READ)
        while not stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            step = min(remaining, _POLL_SECONDS)
            if not watching:
                stopping.wait(step)
            elif selector.select(step):
                try:
                    if not connection.recv(1, socket.MSG_PEEK):
                        return False  # end of stream: the client closed its side
                except OSError:
                    return False  # reset by the client
                watching = False
    return False


def _handler_class(
    dispatch: Dispatch, on_answer: OnAnswer | None, stopping: threading.Event
) -> type[BaseHTTPRequestHandler]:
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
            except HoldAnswer as hold:
                if not _still_waiting_after(self.connection, hold.seconds, stopping):
                    self.close_connection = True
                    return
                status, headers, data = hold.answer
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
