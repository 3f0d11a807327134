"""Bad input for every operation is a 400-class answer in SendGrid's error shape, and nothing reaches SendGrid."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from tests.support import OPERATIONS, error_of, invoke

GOOD = "HkJ5yLYULb7Rj8GKSx7u025ouWVlMgAi"
BAD_BATCH_IDS = ["../x", "a%2Fb", "a/b", "", "x" * 129, "a b", "a?b=c", "a#b", "ab\r\nX-Evil: 1", "é", "a.b", "%2e%2e"]
PATH_OPERATIONS = [name for name, (_, resource) in OPERATIONS.items() if "{batch_id}" in resource]
BAD_ON_BEHALF_OF = ["sub\r\nX-Injected: 1", "sub\nuser", "sub\tuser", "sub\x00", "sub\x7f", "x" * 257, "süb", "  "]

pytestmark = pytest.mark.usefixtures("as_admin")


def _body_for(operation: str) -> dict | None:
    return {"pause_or_cancel": {"batch_id": GOOD, "status": "pause"}, "update_scheduled_send": {"status": "pause"}}.get(
        operation
    )


def _assert_refused(response: dict, fake_sendgrid: HTTPServer, status: int = 400, field: str | None = "unset") -> dict:
    assert response["statusCode"] == status, response
    assert len(fake_sendgrid.log) == 0, "a refused request reached SendGrid"
    error = error_of(response)
    if field != "unset":
        assert error["field"] == field
    return error


@pytest.mark.parametrize("operation", PATH_OPERATIONS)
@pytest.mark.parametrize("batch_id", BAD_BATCH_IDS)
def test_bad_batch_id_in_path_is_refused_before_sendgrid(fake_sendgrid: HTTPServer, operation: str, batch_id: str):
    response = invoke(operation, batch_id=batch_id, body=_body_for(operation))
    error = _assert_refused(response, fake_sendgrid, field="batch_id")
    assert "invalid batch id" in error["message"]


def test_missing_path_parameter_is_refused(fake_sendgrid: HTTPServer) -> None:
    response = invoke("get_scheduled_send")  # no pathParameters at all
    _assert_refused(response, fake_sendgrid, field="batch_id")


@pytest.mark.parametrize("batch_id", [*BAD_BATCH_IDS, 123, None, ["a"], {"a": 1}])
def test_bad_batch_id_in_pause_body_is_refused(fake_sendgrid: HTTPServer, batch_id) -> None:
    response = invoke("pause_or_cancel", body={"batch_id": batch_id, "status": "pause"})
    _assert_refused(response, fake_sendgrid, field="batch_id")


@pytest.mark.parametrize("status", ["resume", "PAUSE", "", None, 1, ["pause"], "pause "])
@pytest.mark.parametrize("operation", ["pause_or_cancel", "update_scheduled_send"])
def test_bad_status_is_refused(fake_sendgrid: HTTPServer, operation: str, status) -> None:
    body = {"batch_id": GOOD, "status": status} if operation == "pause_or_cancel" else {"status": status}
    response = invoke(operation, batch_id=GOOD if operation == "update_scheduled_send" else None, body=body)
    error = _assert_refused(response, fake_sendgrid, field="status")
    assert "cancel" in error["message"] and "pause" in error["message"]


BAD_BODIES = {
    "not json": "status=pause",
    "truncated json": '{"status": "pau',
    "array": "[]",
    "string": '"pause"',
    "number": "7",
    "null": "null",
    "duplicate keys": '{"status": "cancel", "status": "pause", "batch_id": "%s"}' % GOOD,
    "deeply nested": '{"status": ' + "[" * 4000 + "]" * 4000 + "}",
    "unknown field": '{"status": "pause", "batch_id": "%s", "send_now": true}' % GOOD,
}


@pytest.mark.parametrize("operation", ["create_batch_id", "pause_or_cancel", "update_scheduled_send"])
@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_bad_body_is_refused(fake_sendgrid: HTTPServer, operation: str, kind: str) -> None:
    batch_id = GOOD if operation == "update_scheduled_send" else None
    response = invoke(operation, batch_id=batch_id, body=BAD_BODIES[kind])
    _assert_refused(response, fake_sendgrid)


@pytest.mark.parametrize("operation", ["pause_or_cancel", "update_scheduled_send"])
def test_missing_body_is_refused(fake_sendgrid: HTTPServer, operation: str) -> None:
    response = invoke(operation, batch_id=GOOD if operation == "update_scheduled_send" else None, body=None)
    error = _assert_refused(response, fake_sendgrid)
    assert "required" in error["message"]


def test_body_over_the_bound_is_413(fake_sendgrid: HTTPServer) -> None:
    body = json.dumps({"batch_id": GOOD, "status": "pause", "padding": "x" * 9000})
    _assert_refused(invoke("pause_or_cancel", body=body), fake_sendgrid, status=413)


def test_non_json_content_type_is_415(fake_sendgrid: HTTPServer) -> None:
    response = invoke(
        "pause_or_cancel",
        body={"batch_id": GOOD, "status": "pause"},
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
    )
    _assert_refused(response, fake_sendgrid, status=415, field="content-type")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("value", BAD_ON_BEHALF_OF, ids=range(len(BAD_ON_BEHALF_OF)))
def test_bad_on_behalf_of_is_refused_for_every_operation(fake_sendgrid: HTTPServer, operation: str, value: str):
    batch_id = GOOD if "{batch_id}" in OPERATIONS[operation][1] else None
    headers = [("Content-Type", "application/json"), ("on-behalf-of", value)]
    response = invoke(operation, batch_id=batch_id, body=_body_for(operation), headers=headers)
    _assert_refused(response, fake_sendgrid, field="on-behalf-of")


def test_on_behalf_of_given_twice_is_refused(fake_sendgrid: HTTPServer) -> None:
    headers = [("on-behalf-of", "sub-a"), ("On-Behalf-Of", "sub-b")]
    response = invoke("list_scheduled_sends", headers=headers)
    _assert_refused(response, fake_sendgrid, field="on-behalf-of")


def test_a_refusal_is_logged_even_when_caller_data_cannot_be_encoded(fake_sendgrid: HTTPServer, json_logs) -> None:
    # A JSON body may name a key with a lone surrogate (valid JSON text, not encodable as UTF-8).
    response = invoke("pause_or_cancel", body='{"batch_id": "%s", "status": "pause", "\\ud800": 1}' % GOOD)

    _assert_refused(response, fake_sendgrid, field="\ud800")
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    refused = [line for line in lines if line["message"] == "request refused"]
    assert len(refused) == 1, lines  # the refusal leaves its trace
    assert refused[0]["field"] == "\ud800"  # escaped in the line, the same value once the JSON is read
    assert [line["status"] for line in lines if line["message"] == "request answered"] == [400]
