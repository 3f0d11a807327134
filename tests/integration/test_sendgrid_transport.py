"""The SendGrid adapter over real loopback sockets: what a caller is told when no connection could be made (nothing
was sent) and when an earlier attempt's answer was lost before that (a change may have been applied)."""

from __future__ import annotations

import socket
import threading

import pytest

from scheduled_sends.adapters.sendgrid.client import RetryPolicy, SendGridClient
from scheduled_sends.domain.errors import UpstreamUnavailable

PAUSE = {"batch_id": "YOUR_BATCH_ID", "status": "pause"}


def _client(url: str) -> SendGridClient:
    """Two attempts, no waiting between them."""
    return SendGridClient(
        url, lambda _refresh: "SG.transport-test", 1.0, 1.0, RetryPolicy(2, 0.0, 0.0, 10.0), sleep=lambda _s: None
    )


def _port_nobody_listens_on() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_connection_at_any_attempt_means_nothing_was_changed() -> None:
    client = _client(f"http://127.0.0.1:{_port_nobody_listens_on()}")

    with pytest.raises(UpstreamUnavailable, match="nothing was changed by this service"):
        client.call("POST", "/v3/user/scheduled_sends", body=PAUSE)


def test_an_answer_lost_then_no_connection_may_have_applied_the_change() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received: list[bytes] = []

    def take_the_request_and_go_away() -> None:
        connection, _ = listener.accept()
        received.append(connection.recv(65536))
        listener.close()  # the retry finds nobody listening
        connection.close()  # and the first attempt never gets its answer

    server = threading.Thread(target=take_the_request_and_go_away)
    server.start()
    try:
        with pytest.raises(UpstreamUnavailable, match="may or may not have been applied"):
            _client(f"http://127.0.0.1:{listener.getsockname()[1]}").call(
                "POST", "/v3/user/scheduled_sends", body=PAUSE
            )
    finally:
        server.join(5)
    assert received and received[0].startswith(b"POST /v3/user/scheduled_sends ")  # the first attempt was sent
