"""SendGrid's own answers: 4xx pass through; key problems, 5xx, timeouts and dead hosts become clear 5xx."""

from __future__ import annotations

import io
import json
import socket
import threading

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.support import error_of, invoke

BATCH = "HkJ5yLYULb7Rj8GKSx7u025ouWVlMgAi"

pytestmark = pytest.mark.usefixtures("as_admin")


def _sendgrid_error(message: str, field: str | None = None) -> dict:
    return {"errors": [{"field": field, "message": message}]}


@pytest.mark.parametrize(
    ("status", "message", "operation", "batch_id", "body", "path", "method"),
    [
        (400, "invalid batch id", "validate_batch_id", BATCH, None, f"/v3/mail/batch/{BATCH}", "GET"),
        (
            400,
            "a status for this batch id exists, try PATCH to update the status",
            "pause_or_cancel",
            None,
            {"batch_id": BATCH, "status": "pause"},
            "/v3/user/scheduled_sends",
            "POST",
        ),
        (404, "batch id not found", "get_scheduled_send", BATCH, None, f"/v3/user/scheduled_sends/{BATCH}", "GET"),
        (
            404,
            "batch id not found",
            "resume_scheduled_send",
            BATCH,
            None,
            f"/v3/user/scheduled_sends/{BATCH}",
            "DELETE",
        ),
    ],
)
def test_sendgrid_client_errors_pass_through_with_status_and_body(
    fake_sendgrid: HTTPServer, status, message, operation, batch_id, body, path, method
) -> None:
    upstream = _sendgrid_error(message)
    fake_sendgrid.expect_oneshot_request(path, method=method).respond_with_response(
        Response(
            json.dumps(upstream),
            status=status,
            content_type="application/json",
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1795428300"},
        )
    )

    response = invoke(operation, batch_id=batch_id, body=body)

    assert response["statusCode"] == status
    answered = json.loads(response["body"])
    if operation in ("validate_batch_id", "get_scheduled_send"):
        # An admin asked the parent account about a batch it has no row of: SendGrid's error, first and unchanged,
        # then where the table holds that batch id (docs/operations/on-call.md, "Asking the wrong account").
        assert answered["errors"][0] == upstream["errors"][0]
        assert answered["errors"][1]["field"] == "on-behalf-of" and answered["accounts"] == []
    else:
        assert answered == upstream
    assert response["headers"]["X-RateLimit-Remaining"] == "0"
    assert len(fake_sendgrid.log) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_is_retried_once_with_a_fresh_secret_then_502(
    fake_sendgrid: HTTPServer, api_key: str, status: int
) -> None:
    fake_sendgrid.expect_request("/v3/user/scheduled_sends").respond_with_json(
        _sendgrid_error("authorization required" if status == 401 else "access forbidden"), status=status
    )

    response = invoke("list_scheduled_sends")

    assert response["statusCode"] == 502
    error = error_of(response)
    assert "service's own API key" in error["message"]
    assert api_key not in response["body"]
    assert len(fake_sendgrid.log) == 2  # the first try and one retry after the secret refresh


def test_rotated_key_is_picked_up_after_a_401_without_redeploy(
    fake_sendgrid: HTTPServer, api_key: str, secret_arn: str
) -> None:
    rotated = api_key + "-rotated"

    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") == f"Bearer {rotated}":
            return Response("[]", status=200, content_type="application/json")
        return Response(json.dumps(_sendgrid_error("authorization required")), status=401)

    fake_sendgrid.expect_request("/v3/user/scheduled_sends").respond_with_handler(handler)
    assert invoke("list_scheduled_sends")["statusCode"] == 502  # the key is cached now
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=rotated)

    response = invoke("list_scheduled_sends")

    assert response["statusCode"] == 200
    assert [r.headers["Authorization"] for r, _ in fake_sendgrid.log][-2:] == [f"Bearer {api_key}", f"Bearer {rotated}"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_sendgrid_5xx_becomes_502(fake_sendgrid: HTTPServer, status: int) -> None:
    fake_sendgrid.expect_request(f"/v3/user/scheduled_sends/{BATCH}").respond_with_json(
        {"errors": [{"message": "internal"}]}, status=status
    )

    response = invoke("update_scheduled_send", batch_id=BATCH, body={"status": "pause"})

    assert response["statusCode"] == 502
    assert str(status) in error_of(response)["message"]


def test_non_json_success_body_becomes_502(fake_sendgrid: HTTPServer) -> None:
    fake_sendgrid.expect_request("/v3/mail/batch", method="POST").respond_with_data("<html>", status=201)
    assert invoke("create_batch_id")["statusCode"] == 502


def test_sendgrid_kept_rate_limiting_becomes_503_with_retry_after(fake_sendgrid: HTTPServer) -> None:
    fake_sendgrid.expect_request("/v3/user/scheduled_sends").respond_with_response(
        Response(json.dumps(_sendgrid_error("too many requests")), status=429, headers={"Retry-After": "0"})
    )

    response = invoke("list_scheduled_sends")

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"  # SendGrid said 0; callers are asked for at least 1 s
    assert "rate limiting" in error_of(response)["message"]
    assert len(fake_sendgrid.log) == 4  # every attempt the policy allows


def test_sendgrid_timeout_becomes_504(fake_sendgrid: HTTPServer) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(5)  # past the 1 s read timeout the tests configure
        return Response("[]", status=200)

    fake_sendgrid.expect_request("/v3/user/scheduled_sends").respond_with_handler(slow)
    try:
        response = invoke("list_scheduled_sends")
    finally:
        release.set()

    assert response["statusCode"] == 504
    assert "did not answer" in error_of(response)["message"]


def test_unreachable_sendgrid_becomes_502(secret_arn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SENDGRID_API_BASE_URL", f"http://127.0.0.1:{port}")  # nothing listens there

    response = invoke("list_scheduled_sends")

    assert response["statusCode"] == 502
    assert "could not be reached" in error_of(response)["message"]


def test_unreadable_secret_is_a_500_that_names_no_secret(fake_sendgrid: HTTPServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SENDGRID_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")

    response = invoke("list_scheduled_sends")

    assert response["statusCode"] == 500
    assert "could not read its SendGrid key" in error_of(response)["message"]
    assert len(fake_sendgrid.log) == 0


def test_the_key_appears_in_no_log_line_metric_or_response(
    fake_sendgrid: HTTPServer, api_key: str, capsys: pytest.CaptureFixture[str], json_logs: io.StringIO
) -> None:
    fake_sendgrid.expect_request("/v3/user/scheduled_sends").respond_with_json(
        _sendgrid_error("authorization required"), status=401
    )
    responses = [invoke("list_scheduled_sends"), invoke("pause_or_cancel", body={"batch_id": "../x", "status": "x"})]
    captured = capsys.readouterr()

    logs = json_logs.getvalue()
    # The logs and metrics were captured, so the search below means something.
    assert '"error":"UpstreamKeyRejected"' in logs
    assert '"UpstreamKeyRejected":[1.0]' in captured.out
    for text in (logs, captured.out, captured.err, *(json.dumps(r) for r in responses)):
        assert api_key not in text


def test_sendgrids_max_limit_reached_keeps_its_status_and_message_and_says_more(fake_sendgrid: HTTPServer) -> None:
    fake_sendgrid.expect_oneshot_request("/v3/user/scheduled_sends", method="POST").respond_with_json(
        _sendgrid_error("max limit reached"), status=400
    )

    response = invoke("pause_or_cancel", body={"batch_id": BATCH, "status": "pause"})

    assert response["statusCode"] == 400
    document = json.loads(response["body"])
    assert document["errors"][0]["message"].startswith("max limit reached")
    assert document["slots"] == []  # the table knows no slot holder here; only SendGrid does
