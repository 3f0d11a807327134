"""Hand-written hostile requests over real HTTP to the local server: all refused in SendGrid's error shape,
and none of them reaches SendGrid."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from local.server import LocalService

BATCH = "HkJ5yLYULb7Rj8GKSx7u025ouWVlMgAi"


def _raw(service: LocalService, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (requests would refuse CRLF in headers)."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += connection.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(
            next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        while len(body) < length:
            body += connection.recv(65536)
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize(
    "path",
    [
        "/v3/user/scheduled_sends/..%2F..%2Fmail%2Fbatch",
        "/v3/user/scheduled_sends/a%2Fb",
        "/v3/user/scheduled_sends/%2e%2e",
        "/v3/mail/batch/a%00b",
        "/v3/mail/batch/a%0d%0aX-Injected:%201",
        "/v3/user/scheduled_sends/" + "x" * 5000,
    ],
)
def test_traversal_and_encoded_characters_in_batch_id(local_service: LocalService, path: str) -> None:
    response = requests.get(local_service.url + path, timeout=10)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "batch_id"
    assert local_service.sandbox.requests == []


@pytest.mark.parametrize(
    "header",
    [
        b"on-behalf-of: sub\r\nX-Injected: 1",
        b"on-behalf-of: " + b"x" * 300,
    ],
)
def test_hostile_on_behalf_of(local_service: LocalService, header: bytes) -> None:
    status, body = _raw(local_service, b"GET /v3/user/scheduled_sends HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
    if b"X-Injected" in header:
        # The CRLF ends the header: what arrives is on-behalf-of "sub" plus an X-Injected header of the caller's,
        # which is never forwarded; the call must not carry X-Injected upstream.
        assert status == 200
        assert all("X-Injected" not in r.headers for r in local_service.sandbox.requests)
        assert all(r.headers.get("on-behalf-of") == "sub" for r in local_service.sandbox.api_requests)
        return
    assert status == 400
    assert json.loads(body)["errors"][0]["field"] == "on-behalf-of"
    assert local_service.sandbox.requests == []


@pytest.mark.parametrize(
    "header",
    [
        b"Idempotency-Key: a\rb",  # once created a batch: http.server read the key as "a"
        b"on-behalf-of: sub\rX-Injected: 1",
        b"on-behalf-of: sub\x00user",
        b"on-behalf-of: sub\x7f",
        b"Idempotency-Key: a\r\n b",  # obs-fold
    ],
)
def test_malformed_header_lines_never_reach_a_handler(local_service: LocalService, header: bytes) -> None:
    """Refused as API Gateway refuses a malformed header line (400), before any handler runs."""
    called: list[str] = []
    for loaded in local_service._routes:

        def spy(event, context, handler=loaded.handler, name=loaded.route.function):
            called.append(name)
            return handler(event, context)

        loaded.handler = spy
    status, body = _raw(
        local_service,
        b"POST /v3/mail/batch HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nContent-Length: 0\r\n\r\n",
    )
    assert status == 400
    errors = json.loads(body)["errors"]
    assert errors[0]["field"] is None and errors[0]["message"]
    assert called == []
    assert local_service.sandbox.requests == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"batch_id": "' + b"x" * 10_000 + b'", "status": "pause"}', "application/json", 413),
        (b"[" * 4000 + b"]" * 4000, "application/json", 400),
        (b'{"batch_id": "a", "status": "pause", "status": "cancel"}', "application/json", 400),
        (b"batch_id=a&status=pause", "application/x-www-form-urlencoded", 415),
        (b"<xml/>", "text/xml", 415),
        (b"\xff\xfe\xfd", "application/json", 400),
        (b'{"batch_id": "a", "status": "pause", "extra": {"nested": [1, 2, {"deep": true}]}}', "application/json", 400),
    ],
)
def test_hostile_bodies(local_service: LocalService, body: bytes, content_type: str, status: int) -> None:
    response = requests.post(
        f"{local_service.url}/v3/user/scheduled_sends", data=body, headers={"Content-Type": content_type}, timeout=10
    )
    assert response.status_code == status
    assert set(response.json()) == {"errors"}
    assert local_service.sandbox.requests == []
