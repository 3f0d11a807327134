"""Every handler forwards exactly what SendGrid expects (real HTTP to a loopback fake) and answers as SendGrid did."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.support import invoke

BATCH = "HkJ5yLYULb7Rj8GKSx7u025ouWVlMgAi"
RATE_HEADERS = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "599", "X-RateLimit-Reset": "1795428240"}

# operation, batch_id in path, caller body, upstream method, upstream path, upstream body, upstream status, answer
CASES = [
    ("create_batch_id", None, None, "POST", "/v3/mail/batch", None, 201, {"batch_id": BATCH}),
    ("validate_batch_id", BATCH, None, "GET", f"/v3/mail/batch/{BATCH}", None, 200, {"batch_id": BATCH}),
    (
        "list_scheduled_sends",
        None,
        None,
        "GET",
        "/v3/user/scheduled_sends",
        None,
        200,
        [{"batch_id": BATCH, "status": "pause"}],
    ),
    (
        "pause_or_cancel",
        None,
        {"batch_id": BATCH, "status": "pause"},
        "POST",
        "/v3/user/scheduled_sends",
        {"batch_id": BATCH, "status": "pause"},
        201,
        {"batch_id": BATCH, "status": "pause"},
    ),
    (
        "get_scheduled_send",
        BATCH,
        None,
        "GET",
        f"/v3/user/scheduled_sends/{BATCH}",
        None,
        200,
        [{"batch_id": BATCH, "status": "cancel"}],
    ),
    (
        "update_scheduled_send",
        BATCH,
        {"status": "cancel"},
        "PATCH",
        f"/v3/user/scheduled_sends/{BATCH}",
        {"status": "cancel"},
        204,
        None,
    ),
    ("resume_scheduled_send", BATCH, None, "DELETE", f"/v3/user/scheduled_sends/{BATCH}", None, 204, None),
]

pytestmark = pytest.mark.usefixtures("as_admin")


def _sendgrid_fields(body: object, like: object) -> object:
    """SendGrid's own fields of an answer: the service may add extension fields beside them, never change them."""
    if isinstance(like, list):
        assert isinstance(body, list)
        assert len(body) == len(like)
        return [_sendgrid_fields(b, item) for b, item in zip(body, like, strict=True)]
    assert isinstance(body, dict)
    assert isinstance(like, dict)
    return {key: body.get(key) for key in like}


def _respond(status: int, answer: object) -> Response:
    body = "" if answer is None else json.dumps(answer)
    return Response(body, status=status, headers=RATE_HEADERS, content_type="application/json" if body else None)


@pytest.mark.parametrize(
    ("operation", "batch_id", "body", "up_method", "up_path", "up_body", "up_status", "answer"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_operation_forwards_exactly_what_sendgrid_expects(
    fake_sendgrid: HTTPServer, api_key: str, operation, batch_id, body, up_method, up_path, up_body, up_status, answer
) -> None:
    fake_sendgrid.expect_oneshot_request(up_path, method=up_method).respond_with_response(_respond(up_status, answer))
    caller_headers = [
        ("Content-Type", "application/json"),
        ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/execute-api/aws4_request"),
        ("On-Behalf-Of", "subuser-a"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("Host", "example.execute-api.us-east-1.amazonaws.com"),
    ]

    response = invoke(operation, batch_id=batch_id, body=body, headers=caller_headers)

    assert len(fake_sendgrid.log) == 1
    request, _ = fake_sendgrid.log[0]
    assert request.method == up_method
    assert request.full_path.rstrip("?") == up_path
    assert request.headers["Authorization"] == f"Bearer {api_key}"
    assert request.headers["on-behalf-of"] == "subuser-a"
    assert "X-Forwarded-For" not in request.headers
    assert request.headers.get("Host", "").startswith("localhost") or request.headers["Host"].startswith("127.0.0.1")
    if up_body is None:
        assert request.get_data() == b""
        assert "Content-Type" not in request.headers
    else:
        assert json.loads(request.get_data()) == up_body
        assert request.headers["Content-Type"] == "application/json"
    assert response["statusCode"] == up_status
    if answer is None:
        assert response["body"] == ""
    else:
        assert _sendgrid_fields(json.loads(response["body"]), answer) == answer
        assert response["headers"]["Content-Type"] == "application/json"
    for name, value in RATE_HEADERS.items():
        assert response["headers"][name] == value


def test_without_on_behalf_of_no_such_header_goes_upstream(fake_sendgrid: HTTPServer) -> None:
    fake_sendgrid.expect_oneshot_request("/v3/user/scheduled_sends", method="GET").respond_with_json([])

    response = invoke("list_scheduled_sends")

    assert response["statusCode"] == 200
    request, _ = fake_sendgrid.log[0]
    assert "on-behalf-of" not in request.headers


def test_account_id_form_of_on_behalf_of_is_forwarded(fake_sendgrid: HTTPServer) -> None:
    fake_sendgrid.expect_oneshot_request("/v3/user/scheduled_sends", method="GET").respond_with_json([])

    invoke("list_scheduled_sends", headers=[("on-behalf-of", "account-id 12345")])

    request, _ = fake_sendgrid.log[0]
    assert request.headers["on-behalf-of"] == "account-id 12345"


def test_pause_body_is_rebuilt_from_known_fields_only(fake_sendgrid: HTTPServer) -> None:
    fake_sendgrid.expect_oneshot_request("/v3/user/scheduled_sends", method="POST").respond_with_json(
        {"batch_id": BATCH, "status": "cancel"}, status=201
    )

    invoke("pause_or_cancel", body='{ "status" : "cancel",\n "batch_id": "%s" }' % BATCH)

    request, _ = fake_sendgrid.log[0]
    assert request.get_data() == ('{"batch_id":"%s","status":"cancel"}' % BATCH).encode()


def test_create_accepts_an_empty_json_object_and_forwards_no_body(fake_sendgrid: HTTPServer) -> None:
    fake_sendgrid.expect_oneshot_request("/v3/mail/batch", method="POST").respond_with_json(
        {"batch_id": BATCH}, status=201
    )

    response = invoke("create_batch_id", body="{}")

    assert response["statusCode"] == 201
    request, _ = fake_sendgrid.log[0]
    assert request.get_data() == b""
    assert request.headers["Content-Length"] == "0"


def test_base64_encoded_body_is_decoded(fake_sendgrid: HTTPServer) -> None:
    from local.events import LocalLambdaContext, proxy_event
    from tests.support import load_handler

    fake_sendgrid.expect_oneshot_request(f"/v3/user/scheduled_sends/{BATCH}", method="PATCH").respond_with_data(
        "", status=204
    )
    event = proxy_event(
        method="PATCH",
        resource="/user/scheduled_sends/{batch_id}",
        path=f"/user/scheduled_sends/{BATCH}",
        path_parameters={"batch_id": BATCH},
        headers=[("content-type", "application/json; charset=utf-8")],
        body=None,
        caller_arn="arn:aws:iam::111122223333:user/team-a",
    )
    event["body"], event["isBase64Encoded"] = "eyJzdGF0dXMiOiJwYXVzZSJ9", True  # {"status":"pause"}

    response = load_handler("update_scheduled_send")(event, LocalLambdaContext("update"))

    assert response["statusCode"] == 204
    assert json.loads(fake_sendgrid.log[0][0].get_data()) == {"status": "pause"}
