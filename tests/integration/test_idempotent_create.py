"""POST /v3/mail/batch with an Idempotency-Key: the same key gives the same batch id (Powertools idempotency,
DynamoDB-backed in moto), per account and owner; without the header nothing changes."""

from __future__ import annotations

import json

from local.sendgrid_sandbox import SendGridSandbox
from tests.support import error_of, invoke

TEAM_A = "arn:aws:iam::111122223333:user/team-a"
TEAM_B = "arn:aws:iam::111122223333:user/team-b"


def _create(key: str | None, caller: str = TEAM_A, body: dict | None = None, subuser: str | None = None) -> dict:
    headers = [("Content-Type", "application/json")]
    if key is not None:
        headers.append(("Idempotency-Key", key))
    if subuser:
        headers.append(("on-behalf-of", subuser))
    return invoke("create_batch_id", body=body, headers=headers, caller_arn=caller)


def _batch(response: dict) -> str:
    assert response["statusCode"] == 201, response
    return json.loads(response["body"])["batch_id"]


def _creates(sandbox: SendGridSandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "POST" and r.path == "/v3/mail/batch")


def test_the_same_key_returns_the_same_batch_id_and_calls_sendgrid_once(sandbox_sendgrid: SendGridSandbox, clock):
    first, again = _create("order-42"), _create("order-42")

    assert _batch(first) == _batch(again)
    assert json.loads(first["body"]) == json.loads(again["body"])
    assert _creates(sandbox_sendgrid) == 1


def test_other_keys_owners_and_accounts_get_their_own_batches(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    batches = {
        _batch(_create("k1")),
        _batch(_create("k2")),
        _batch(_create("k1", caller=TEAM_B)),  # another team's key never answers for this one
        _batch(_create("k1", subuser="sub-a")),
    }
    assert len(batches) == 4
    assert _creates(sandbox_sendgrid) == 4


def test_without_the_header_every_create_is_new(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    assert _batch(_create(None)) != _batch(_create(None))


def test_the_same_key_with_another_body_is_refused(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    _batch(_create("k", body={"send_at": clock.now + 600}))
    refused = _create("k", body={"send_at": clock.now + 1200})
    assert refused["statusCode"] == 422
    assert error_of(refused)["field"] == "Idempotency-Key"
    assert _creates(sandbox_sendgrid) == 1


def test_a_create_that_failed_at_sendgrid_can_be_retried_with_the_same_key(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    sandbox_sendgrid.inject("500", times=4)
    assert _create("k")["statusCode"] == 502
    assert _batch(_create("k"))


def test_bad_idempotency_keys_are_refused(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    for key in ("", "has space", "x" * 129, "é"):
        response = _create(key)
        assert response["statusCode"] == 400, key
        assert error_of(response)["field"] == "Idempotency-Key"
    assert sandbox_sendgrid.requests == []
