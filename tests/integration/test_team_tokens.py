"""AuthMode=TOKEN: the team-token authorizer (moto DynamoDB, the real handler, SAM's REQUEST event shape)
and how the operations use what it returns (team principal, subuser limit), against the SendGrid sandbox."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from local.template import create_table, load_template
from scheduled_sends.adapters.token_table import TokenStore
from scheduled_sends.domain import tokens
from tests.support import SCANNER_TIMEOUT_MS, error_of, invoke, load_handler

SAM_REQUEST_EVENT = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "sam-generated-request-authorizer.json").read_text()
)
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v3/GET/user/scheduled_sends"


@pytest.fixture
def token_store(aws: None, monkeypatch: pytest.MonkeyPatch) -> TokenStore:
    """The template's TeamTokensTable in moto, as the authorizer's environment names it."""
    properties = load_template()["Resources"]["TeamTokensTable"]["Properties"]
    create_table(boto3.client("dynamodb"), "team-tokens", properties)
    monkeypatch.setenv("TEAM_TOKENS_TABLE_NAME", "team-tokens")
    return TokenStore(boto3.resource("dynamodb").Table("team-tokens"))


def _issue(store: TokenStore, team: str = "payments", subusers: tuple[str, ...] = ()) -> tuple[str, tokens.TeamToken]:
    token, record = tokens.new_token(team, list(subusers), now=1_800_000_000)
    store.add(record)
    return token, record


def _authorize(headers: dict[str, str], multi: dict[str, list[str]] | None = None) -> dict[str, Any]:
    event = copy.deepcopy(SAM_REQUEST_EVENT)
    event["methodArn"] = METHOD_ARN
    event["headers"] = {**event["headers"], **headers}
    if multi is not None:
        event["multiValueHeaders"] = multi
    return load_handler("token_authorizer")(event, LocalLambdaContext(function_name="authorizer"))


def _refused(headers: dict[str, str], **kwargs: Any) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):  # the exact message API Gateway turns into 401
        _authorize(headers, **kwargs)


def test_a_good_token_gets_the_teams_principal_and_a_policy_for_the_whole_stage(token_store: TokenStore) -> None:
    token, record = _issue(token_store, subusers=("acme", "globex"))
    answer = _authorize({"Authorization": f"Bearer {token}"})
    assert answer["principalId"] == "team:payments"
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        # every route of this stage, so API Gateway's cached answer serves the team's next calls too
        "Resource": "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v3/*/*",
    }
    assert answer["context"] == {
        "team": "payments",
        "token_id": record.token_id,
        "subusers_json": '["acme", "globex"]',  # exact, whatever a name holds
        "subusers": "acme,globex",  # what handlers of the previous release read while a deploy rolls out
    }
    assert token not in json.dumps(answer)


def test_wrong_unknown_malformed_and_missing_tokens_are_refused(token_store: TokenStore, capsys) -> None:
    token, _ = _issue(token_store)
    token_id, secret = tokens.parse(token)
    wrong_secret = f"sst_{token_id}_{'A' * 43}" if secret != "A" * 43 else f"sst_{token_id}_{'B' * 43}"
    _refused({"Authorization": f"Bearer {wrong_secret}"})
    _refused({"Authorization": f"Bearer sst_{'0' * 16}_{secret}"})  # right secret, unknown id
    _refused({"Authorization": token})  # no Bearer scheme
    _refused({"Authorization": f"Basic {token}"})
    _refused({"Authorization": "Bearer SG.a-sendgrid-key-is-not-a-team-token"})
    _refused({})
    _refused({"Authorization": f"Bearer {token}"}, multi={"Authorization": [f"Bearer {token}", "Bearer other"]})
    output = capsys.readouterr()
    assert secret not in output.out + output.err  # refusals are logged without the token
    assert output.out.count('"TeamTokenRefused":[1.0]') == 7


def test_a_revoked_token_is_refused_and_revoking_again_keeps_the_first_time(token_store: TokenStore) -> None:
    token, record = _issue(token_store)
    assert _authorize({"Authorization": f"Bearer {token}"})["principalId"] == "team:payments"
    revoked = token_store.revoke(record.token_id, now=1_800_000_100)
    assert revoked is not None and revoked.revoked_at == 1_800_000_100
    _refused({"Authorization": f"Bearer {token}"})
    assert token_store.revoke(record.token_id, now=1_800_000_200).revoked_at == 1_800_000_100
    assert token_store.revoke("f" * 16, now=1_800_000_300) is None


def test_only_hashes_are_stored_and_ids_are_never_reused(token_store: TokenStore) -> None:
    token, record = _issue(token_store)
    _, secret = tokens.parse(token)
    (item,) = boto3.resource("dynamodb").Table("team-tokens").scan()["Items"]
    assert secret not in json.dumps(item, default=str)
    assert item["secret_hash"] == tokens.hash_secret(secret)
    with pytest.raises(boto3.client("dynamodb").exceptions.ConditionalCheckFailedException):
        token_store.add(record)
    assert [t.token_id for t in token_store.all()] == [record.token_id]


def test_the_authorizer_fails_loudly_when_it_cannot_check(token_store: TokenStore, monkeypatch, capsys) -> None:
    token, _ = _issue(token_store)
    monkeypatch.setenv("TEAM_TOKENS_TABLE_NAME", "no-such-table")
    with pytest.raises(Exception) as raised:  # noqa: PT011 - any failure but "Unauthorized"
        _authorize({"Authorization": f"Bearer {token}"})
    assert str(raised.value) != "Unauthorized"  # API Gateway answers 500, not a misleading 401
    assert '"TeamTokenAuthorizerFailed":[1.0]' in capsys.readouterr().out


# -- the operations behind the authorizer ------------------------------------------------------------------
def _team(name: str, subusers: str = "") -> dict[str, str]:
    """requestContext.authorizer as API Gateway passes the authorizer's answer to the integration."""
    return {"principalId": f"team:{name}", "team": name, "token_id": "0" * 16, "subusers": subusers}


def test_a_team_owns_what_it_creates_and_another_team_gets_403(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    created = invoke("create_batch_id", authorizer=_team("payments"))
    batch = json.loads(created["body"])["batch_id"]
    paused = invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, authorizer=_team("payments"))
    assert paused["statusCode"] == 201
    assert json.loads(paused["body"])["owner"] == "team:payments"
    before = len(sandbox_sendgrid.requests)
    other = invoke("resume_scheduled_send", batch_id=batch, authorizer=_team("growth"))
    assert other["statusCode"] == 403
    assert len(sandbox_sendgrid.requests) == before
    assert invoke("resume_scheduled_send", batch_id=batch, authorizer=_team("payments"))["statusCode"] == 204


def test_team_principals_can_be_admins(sandbox_sendgrid: SendGridSandbox, clock, monkeypatch) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPALS", "team:ops")
    batch = json.loads(invoke("create_batch_id", authorizer=_team("payments"))["body"])["batch_id"]
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, authorizer=_team("payments"))
    assert invoke("resume_scheduled_send", batch_id=batch, authorizer=_team("ops"))["statusCode"] == 204


@pytest.mark.parametrize(
    "headers",
    [
        [("on-behalf-of", "globex")],  # another subuser
        [],  # the parent account
    ],
)
def test_a_subuser_limited_token_acts_only_for_its_subusers(
    sandbox_sendgrid: SendGridSandbox, clock, headers: list[tuple[str, str]]
) -> None:
    refused = invoke("list_scheduled_sends", headers=headers, authorizer=_team("payments", "acme,initech"))
    assert refused["statusCode"] == 403
    error = error_of(refused)
    assert error["field"] == "on-behalf-of" and "acme, initech" in error["message"]
    assert sandbox_sendgrid.requests == []  # refused before SendGrid
    allowed = invoke(
        "list_scheduled_sends", headers=[("on-behalf-of", "acme")], authorizer=_team("payments", "acme,initech")
    )
    assert allowed["statusCode"] == 200
    assert [r.headers.get("on-behalf-of") for r in sandbox_sendgrid.api_requests] == ["acme"]


def test_a_teams_batches_are_watched_and_announced_under_its_team_principal(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    send_at = clock.now + 3600
    created = invoke("create_batch_id", body={"send_at": send_at}, authorizer=_team("payments"))
    batch = json.loads(created["body"])["batch_id"]
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, authorizer=_team("payments"))
    clock.now = send_at + 72 * 3600 - 1800  # half an hour before SendGrid discards it

    load_handler("expiry_scanner")(
        {"source": "aws.events"}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)
    )

    warnings = [e["detail"] for e in published_events() if e["detail-type"] == "Scheduled Send Expiry Warning"]
    assert warnings  # each validated against its JSON Schema by the fixture
    assert {w["owner"] for w in warnings} == {"team:payments"}  # what a team's rule matches on


def test_a_token_stored_for_a_subuser_named_with_a_comma_acts_for_neither_part(
    token_store: TokenStore, sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    # Issued before commas were refused (new_token refuses it now), so written to the table directly.
    token, record = tokens.new_token("payments", [], now=1_800_000_000)
    token_store.add(dataclasses.replace(record, subusers=("acme,globex",)))
    context = _authorize({"Authorization": f"Bearer {token}"})
    authorizer = {"principalId": context["principalId"], **context["context"]}  # what API Gateway passes on

    for on_behalf_of, status in (("acme", 403), ("globex", 403), ("acme,globex", 400)):
        response = invoke("list_scheduled_sends", headers=[("on-behalf-of", on_behalf_of)], authorizer=authorizer)
        assert response["statusCode"] == status, on_behalf_of
        assert error_of(response)["field"] == "on-behalf-of"
    assert sandbox_sendgrid.requests == []
