"""The local runner's HTTP layer (local.http) on the wire, with a stub dispatch: raw bytes in, raw bytes out."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from local.http import LoopbackServer

BODY = b'{"hello": "world"}'


@pytest.fixture
def server() -> Iterator[tuple[LoopbackServer, list[tuple[str, str, list[tuple[str, str]], bytes]]]]:
    """A LoopbackServer answering 200 with BODY to anything, and the list of requests it dispatched."""
    dispatched: list[tuple[str, str, list[tuple[str, str]], bytes]] = []

    def dispatch(method: str, path: str, headers: list[tuple[str, str]], body: bytes):
        dispatched.append((method, path, headers, body))
        return 200, {"Content-Type": "application/json"}, BODY

    loopback = LoopbackServer("127.0.0.1", 0, dispatch, name="test-loopback")
    loopback.start()
    yield loopback, dispatched
    loopback.stop()


def _send_until_closed(url: str, request: bytes) -> bytes:
    """Send `request` (which should end the connection, e.g. with Connection: close) and read every byte back
    until the server closes it; a server that keeps it open gets 5 s (what arrived by then is returned)."""
    host, port = url.removeprefix("http://").split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def _head_and_rest(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, rest


MALFORMED = [
    pytest.param(b"Idempotency-Key: a\rb", id="bare-CR-in-idempotency-key"),
    pytest.param(b"on-behalf-of: sub\rX-Injected: 1", id="bare-CR-in-on-behalf-of"),
    pytest.param(b"X-Other: a\rb", id="bare-CR-in-another-header"),
    pytest.param(b"X-Other: a\r\r\nX-After: 1", id="bare-CR-before-CRLF"),
    pytest.param(b"X-Other: a\r\n b", id="obs-fold"),
    pytest.param(b"X-Other: a\r\n\t\rb", id="bare-CR-in-obs-fold"),
    pytest.param(b"X-Other\r: a", id="bare-CR-in-header-name"),
    pytest.param(b"on-behalf-of: sub\x00user", id="NUL"),
    pytest.param(b"on-behalf-of: sub\x7f", id="DEL"),
    pytest.param(b"X-Other: a\x01b", id="SOH"),
    pytest.param(b"X-Other: a\x0bb", id="VT"),
    pytest.param(b"X-Other: a\x1bb", id="ESC"),
    pytest.param(b"Idempotency-Key : a", id="space-before-colon"),
    pytest.param(b"no colon here", id="no-colon"),
    pytest.param(b": empty name", id="empty-name"),
]


@pytest.mark.parametrize("line", MALFORMED)
def test_malformed_header_lines_are_refused_with_a_400_and_never_dispatched(server, line: bytes) -> None:
    loopback, dispatched = server
    request = b"POST /v3/mail/batch HTTP/1.1\r\nHost: x\r\n" + line + b"\r\nContent-Length: 0\r\n\r\n"
    status, headers, rest = _head_and_rest(_send_until_closed(loopback.url, request))
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    errors = json.loads(rest)
    assert set(errors) == {"errors"}
    assert errors["errors"][0]["field"] is None and errors["errors"][0]["message"]
    assert len(rest) == int(headers["content-length"])
    assert dispatched == []


@pytest.mark.parametrize(
    "request_line",
    [
        pytest.param(b"GET /v3/mail/batch/a\rb HTTP/1.1", id="bare-CR-in-target"),
        pytest.param(b"GET /v3/mail/batch/a\x00b HTTP/1.1", id="NUL-in-target"),
        pytest.param(b"GET /v3/mail/batch/a\x85b HTTP/1.1", id="NEL-in-target"),
        pytest.param(b"GET\t/v3/mail/batch HTTP/1.1", id="HTAB-separator"),
    ],
)
def test_malformed_request_lines_are_refused_with_a_json_400(server, request_line: bytes) -> None:
    loopback, dispatched = server
    status, _, rest = _head_and_rest(_send_until_closed(loopback.url, request_line + b"\r\nHost: x\r\n\r\n"))
    assert status == 400
    assert json.loads(rest)["errors"][0]["field"] is None
    assert dispatched == []


def test_tabs_and_obs_text_in_values_are_still_dispatched_as_sent(server) -> None:
    loopback, dispatched = server
    request = b"GET /x HTTP/1.1\r\nHost: x\r\nX-Tab: a\tb\r\nX-Text: caf\xc3\xa9\r\nConnection: close\r\n\r\n"
    status, _, rest = _head_and_rest(_send_until_closed(loopback.url, request))
    assert (status, rest) == (200, BODY)
    assert ("X-Tab", "a\tb") in dispatched[0][2]
    assert ("X-Text", "caf\xc3\xa9") in dispatched[0][2]  # latin-1, as http.server (and API Gateway) pass it on


def test_head_gets_status_and_headers_but_no_body_and_the_next_request_still_parses(server) -> None:
    loopback, dispatched = server
    request = b"HEAD /x HTTP/1.1\r\nHost: x\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, headers, rest = _head_and_rest(_send_until_closed(loopback.url, request))
    assert status == 200
    assert headers["content-length"] == str(len(BODY))  # the length GET would send
    # The very next bytes are the second answer: no body after the HEAD answer's headers.
    assert rest.startswith(b"HTTP/1.1 200 "), rest
    status, headers, rest = _head_and_rest(rest)
    assert (status, rest) == (200, BODY)
    assert [(method, path) for method, path, _, _ in dispatched] == [("HEAD", "/x"), ("GET", "/y")]


def test_a_refused_head_request_has_no_body_either(server) -> None:
    loopback, dispatched = server
    data = _send_until_closed(loopback.url, b"HEAD /x HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n")
    status, _, rest = _head_and_rest(data)
    assert (status, rest) == (400, b"")
    assert dispatched == []
