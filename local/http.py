"""A threaded HTTP/1.1 server on loopback that hands each request to a dispatch function (local only)."""

from __future__ import annotations

import json
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
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

# RFC 9110 5.1: a field name is a token. 5.5: a field value is visible characters, SP, HTAB and obs-text
# (0x80-0xFF); every other control character (CTL: 0x00-0x1F and DEL) is refused, HTAB alone excepted.
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CTL_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 9112 3: method SP request-target SP version, all visible US-ASCII (a request-target is percent-encoded).
_REQUEST_LINE_BYTE = re.compile(rb"[^\x21-\x7e ]")


def _without_line_ending(line: bytes) -> bytes:
    """`line` without the one CRLF (or bare LF, which http.server also ends a line at) that ends it."""
    return line[:-2] if line.endswith(b"\r\n") else line[:-1] if line.endswith(b"\n") else line


def malformed(request_line: bytes, header_lines: list[bytes]) -> str | None:
    """Why this request head, as it came off the wire, is not well-formed HTTP/1.1, or None when it is.

    http.server reads it differently from API Gateway: `http.client.parse_headers` joins the header lines and
    hands them to `email.parser`, which also ends a line at a bare CR (a CR not followed by LF), so
    `Idempotency-Key: a<CR>b` arrives as the key "a" plus a line "b"; a line that is not `name: value` (a
    space before the colon, no colon) silently ends the headers there, dropping every header after it; an
    obs-fold line is glued onto the value before it, CRLF included; and NUL and other control characters
    pass through. RFC 9112 lets a server refuse each of these with a 400 (2.2: a bare CR makes the element
    invalid; 5.1: whitespace before the colon MUST be refused; 5.2: obs-fold may be refused) and RFC 9110 5.5
    says CR, LF and NUL in a value are refused or replaced, other CTLs "MAY" be kept. ASSUMPTION (from how
    API Gateway is described to behave, not re-checked against AWS here): it answers all of these with a 400
    before anything is invoked, taking HTAB as the only control character in a value. A bare LF ending a line
    is accepted, as by http.server (RFC 9112 2.2 lets a recipient do so): both sides read it as a line end.
    """
    target = _without_line_ending(request_line)
    if _REQUEST_LINE_BYTE.search(target):
        return "the request line has a character other than visible ASCII and spaces in it"
    for number, raw in enumerate(header_lines, start=1):
        if raw in (b"\r\n", b"\n", b""):  # the empty line that ends the head (or the end of the stream)
            break
        line = _without_line_ending(raw)
        if line[:1] in (b" ", b"\t"):
            return f"header line {number} is folded onto the one before it (obs-fold); send it as one line"
        name, colon, value = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            return f"header line {number} is not a header name (a token) directly followed by a colon"
        if b"\r" in value:
            return f"the value of header {name.decode()} has a CR in it that does not end the line"
        if _CTL_IN_VALUE.search(value):
            return f"the value of header {name.decode()} has a control character in it (only HTAB is allowed)"
    return None


class _RecordingReader:
    """Reads lines from `stream` and keeps each, so the request head can be checked as it was sent."""

    def __init__(self, stream: BufferedIOBase) -> None:
        self._stream = stream
        self.lines: list[bytes] = []

    def readline(self, size: int = -1) -> bytes:
        line = self._stream.readline(size)
        self.lines.append(line)
        return line


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
        assert isinstance(host, str)  # an AF_INET server's address (bytes only for AF_UNIX)
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread:  # shutdown() waits for serve_forever, which a server bound but never started never ran
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

        def parse_request(self) -> bool:
            """http.server's parsing, then a refusal (400) of a request head it would have read differently
            from API Gateway (see `malformed`); a refused request is never dispatched."""
            self._started = time.perf_counter()
            self.path = ""  # not the previous request's, if this one's line cannot be read
            stream, self._head = self.rfile, _RecordingReader(self.rfile)
            self.rfile = self._head  # type: ignore[assignment]  # http.client.parse_headers only calls readline
            try:
                return super().parse_request() and self._well_formed()
            finally:
                self.rfile = stream

        def handle_expect_100(self) -> bool:
            # Called inside parse_request once the headers are read: refuse before telling the client to go on.
            return self._well_formed() and super().handle_expect_100()

        def _well_formed(self) -> bool:
            problem = malformed(self.raw_requestline, self._head.lines)
            if problem is None:
                return True
            self.send_error(HTTPStatus.BAD_REQUEST, problem)
            return False

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """Every refusal made here (ours, and http.server's own: bad request line, line too long, too many
            headers), in SendGrid's error shape, closing the connection: what follows cannot be trusted."""
            status = HTTPStatus(code)
            data = json.dumps({"errors": [{"field": None, "message": message or status.phrase}]}).encode()
            self.close_connection = True
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            if on_answer:
                # No command: the request line was not read (too long, bad version), nor was any path of its own.
                method, path = (self.command, getattr(self, "path", "")) if self.command else ("-", "")
                started = getattr(self, "_started", time.perf_counter())
                on_answer(method, path or "-", int(code), (time.perf_counter() - started) * 1000)

        def _serve(self) -> None:
            started = self._started
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
            if self.command != "HEAD":  # HEAD: the headers GET would get (Content-Length too), never a body
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
