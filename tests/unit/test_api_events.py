"""Turning API Gateway events into requests and responses."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from local.events import proxy_event
from scheduled_sends.domain import tokens
from scheduled_sends.domain.errors import BadRequest, Forbidden, PayloadTooLarge, UnsupportedMediaType
from scheduled_sends.entry.api import ApiResponse, error_body, parse_request, to_proxy_response
from scheduled_sends.entry.authorizer import policy_for


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SENDGRID_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x")


def _event(method: str = "POST", headers=None, body: bytes | None = b"{}", caller: str = "arn:aws:iam::1:user/a"):
    return proxy_event(
        method=method, resource="/mail/batch", path="/mail/batch", headers=headers or [], body=body, caller_arn=caller
    )


def test_headers_are_read_case_insensitively() -> None:
    request = parse_request(_event(headers=[("ON-BEHALF-OF", "sub")]))
    assert request.on_behalf_of == "sub"


def test_principal_and_request_id_come_from_the_request_context() -> None:
    event = _event(caller="arn:aws:iam::111122223333:user/team-a")
    request = parse_request(event)
    assert request.principal == "arn:aws:iam::111122223333:user/team-a"
    assert request.request_id == event["requestContext"]["requestId"]


def test_bodies_of_get_and_delete_are_dropped() -> None:
    assert parse_request(_event(method="GET", body=b'{"a": 1}')).body is None
    assert parse_request(_event(method="DELETE", body=b'{"a": 1}')).body is None


def test_binary_bodies_arrive_base64_encoded_and_must_be_utf8() -> None:
    event = _event(body=b"\xff\xfe")
    assert event["isBase64Encoded"] is True
    with pytest.raises(BadRequest, match="UTF-8"):
        parse_request(event)


def test_invalid_base64_is_refused() -> None:
    event = _event()
    event["body"], event["isBase64Encoded"] = "***", True
    with pytest.raises(BadRequest, match="base64"):
        parse_request(event)


def test_body_size_is_bounded() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_request(_event(body=b" " * 8193))


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_non_json_content_types_are_refused(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        parse_request(_event(headers=[("Content-Type", content_type)], body=b'{"status": "pause"}'))


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/vnd+json"]
)
def test_json_content_types_are_accepted(content_type: str) -> None:
    assert parse_request(_event(headers=[("Content-Type", content_type)], body=b"{}")).body == "{}"


def test_error_body_has_sendgrids_shape() -> None:
    assert json.loads(error_body("invalid batch id", "batch_id")) == {
        "errors": [{"field": "batch_id", "message": "invalid batch id"}]
    }


def test_proxy_response_sets_json_content_type_only_with_a_body() -> None:
    assert to_proxy_response(ApiResponse(204))["headers"] == {}
    answer = to_proxy_response(ApiResponse(200, "[]", {"X-RateLimit-Limit": "600"}))
    assert answer == {
        "statusCode": 200,
        "headers": {"X-RateLimit-Limit": "600", "Content-Type": "application/json"},
        "body": "[]",
        "isBase64Encoded": False,
    }


class _OneToken:
    """A token table holding one record, for the authorizer."""

    def __init__(self, record: tokens.TeamToken) -> None:
        self.record = record

    def get(self, token_id: str) -> tokens.TeamToken | None:
        return self.record if token_id == self.record.token_id else None


def _through_the_authorizer(subusers: tuple[str, ...], on_behalf_of: str | None):
    """The request the handler sees after the real authorizer answered for a token limited to `subusers`
    (the record is built directly: records issued before a rule existed are still in the table)."""
    token, record = tokens.new_token("payments", [], now=0)
    record = replace(record, subusers=subusers)
    event = _event(headers=[("on-behalf-of", on_behalf_of)] if on_behalf_of else [])
    event["headers"] = {**(event["headers"] or {}), "Authorization": f"Bearer {token}"}
    event["methodArn"] = "arn:aws:execute-api:us-east-1:1:api/v3/POST/mail/batch"
    answer = policy_for(event, _OneToken(record))
    # API Gateway hands the integration the principal and the context, as strings.
    event["requestContext"]["authorizer"] = {"principalId": answer["principalId"], **answer["context"]}
    return parse_request(event)


def test_a_tokens_subusers_reach_the_handler_exactly_as_issued() -> None:
    assert _through_the_authorizer(("acme", "globex"), "globex").subusers == ("acme", "globex")
    assert _through_the_authorizer((), None).subusers == ()


@pytest.mark.parametrize("on_behalf_of", ["a", "b"])
def test_a_token_for_one_subuser_whose_name_has_a_comma_acts_for_no_other(on_behalf_of: str) -> None:
    with pytest.raises(Forbidden):
        _through_the_authorizer(("a,b",), on_behalf_of)


@pytest.mark.parametrize(("legacy", "expected"), [("acme,globex", ("acme", "globex")), ("acme", ("acme",)), ("", ())])
def test_the_comma_form_of_an_authorizer_answer_cached_before_a_deploy_is_still_read(legacy: str, expected) -> None:
    event = _event(headers=[("on-behalf-of", "acme")])
    event["requestContext"]["authorizer"] = {"principalId": "team:payments", "team": "payments", "subusers": legacy}
    assert parse_request(event).subusers == expected
