"""AuthMode=TOKEN through the local server, as a new user would try it: tokens issued, listed and revoked
with the project's own command (`scheduled-sends tokens`, what `make token-*` runs), and the unmodified
official sendgrid client driving all seven operations with one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests
from python_http_client.exceptions import ForbiddenError, UnauthorizedError
from sendgrid import SendGridAPIClient

from local.authorizer import authorize, method_arn
from local.events import proxy_event
from local.server import CALLER_HEADER, LocalService
from tests.conftest import record_answers
from tests.support import CANARY_KEY, OPERATIONS, OPS_OPERATIONS, ROOT, run_cli, start_python_m_local

SAM_REQUEST_EVENT = json.loads((ROOT / "tests" / "fixtures" / "sam-generated-request-authorizer.json").read_text())


@pytest.fixture
def token_service() -> Iterator[LocalService]:
    service = LocalService(
        port=0, log=lambda line: None, scan_seconds=0, sendgrid_api_key=CANARY_KEY, parameters={"AuthMode": "TOKEN"}
    ).start()
    record_answers(service)
    yield service
    service.stop()


def _tokens(service: LocalService, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--local", service.url, "--json", "tokens", *arguments)


def _issue(service: LocalService, team: str, *subusers: str) -> dict:
    result = _tokens(service, "issue", "--team", team, *[f"--subuser={s}" for s in subusers])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_official_client_drives_all_seven_operations_with_an_issued_token(token_service: LocalService) -> None:
    issued = _issue(token_service, "payments")
    sg = SendGridAPIClient(issued["token"], host=token_service.url).client

    batch = sg.mail.batch.post().to_dict["batch_id"]
    assert sg.mail.batch._(batch).get().to_dict == {"batch_id": batch}
    paused = sg.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"})
    assert paused.status_code == 201 and paused.to_dict["owner"] == "team:payments"
    assert [e["batch_id"] for e in sg.user.scheduled_sends.get().to_dict] == [batch]
    assert sg.user.scheduled_sends._(batch).get().to_dict[0]["status"] == "pause"
    assert sg.user.scheduled_sends._(batch).patch(request_body={"status": "cancel"}).status_code == 204
    assert token_service.sandbox.statuses() == {batch: "cancel"}
    assert sg.user.scheduled_sends._(batch).delete().status_code == 204
    assert token_service.sandbox.statuses() == {}

    # SendGrid only ever saw the service's key, never the team's token.
    assert {r.headers["Authorization"] for r in token_service.sandbox.requests} == {f"Bearer {CANARY_KEY}"}


def test_a_revoked_token_is_refused_on_its_next_request(token_service: LocalService) -> None:
    issued = _issue(token_service, "payments")
    sg = SendGridAPIClient(issued["token"], host=token_service.url).client
    assert sg.user.scheduled_sends.get().status_code == 200

    revoked = _tokens(token_service, "revoke", issued["token_id"])
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked_at"] is not None

    with pytest.raises(UnauthorizedError) as refused:
        sg.user.scheduled_sends.get()
    assert json.loads(refused.value.body) == {"errors": [{"field": None, "message": "Unauthorized"}]}
    listed = json.loads(_tokens(token_service, "list", "--all").stdout)
    assert [(t["token_id"], t["revoked_at"] is not None) for t in listed] == [(issued["token_id"], True)]
    assert json.loads(_tokens(token_service, "list").stdout) == []  # revoked tokens only with --all
    assert issued["token"] not in json.dumps(listed)


def test_bad_missing_and_borrowed_identities_are_refused_before_any_handler(token_service: LocalService) -> None:
    issued = _issue(token_service, "payments")
    url = f"{token_service.url}/v3/user/scheduled_sends"
    tampered = issued["token"][:-1] + ("A" if issued["token"][-1] != "A" else "B")
    for headers in (
        {},
        {"Authorization": f"Bearer {tampered}"},
        {"Authorization": f"Bearer {CANARY_KEY}"},  # a SendGrid key is not a team token
        {CALLER_HEADER: "arn:aws:iam::000000000000:role/admin"},  # the local IAM shortcut does not apply
    ):
        answer = requests.get(url, headers=headers, timeout=10)
        assert answer.status_code == 401, headers
        assert answer.json() == {"errors": [{"field": None, "message": "Unauthorized"}]}
    assert token_service.sandbox.requests == []


def test_every_route_refuses_a_missing_or_wrong_token_before_its_handler(token_service: LocalService) -> None:
    issued = _issue(token_service, "payments")
    batch = SendGridAPIClient(issued["token"], host=token_service.url).client.mail.batch.post().to_dict["batch_id"]
    sendgrid_calls = len(token_service.sandbox.requests)
    wrong = f"Bearer sst_{issued['token_id']}_{'x' * 43}"
    for method, resource in [*OPERATIONS.values(), *OPS_OPERATIONS.values()]:  # the on-call routes too
        url = f"{token_service.url}/v3{resource.replace('{batch_id}', batch)}"
        body = {"batch_id": batch, "status": "pause"} if method == "POST" else {"status": "cancel"}
        for headers in ({}, {"Authorization": wrong}):
            answer = requests.request(
                method, url, json=body if method in ("POST", "PATCH") else None, headers=headers, timeout=10
            )
            assert answer.status_code == 401, (method, resource, headers, answer.text)
    assert len(token_service.sandbox.requests) == sendgrid_calls  # nothing reached SendGrid


def test_a_subuser_limited_token_acts_only_for_its_subusers(token_service: LocalService) -> None:
    issued = _issue(token_service, "acme-team", "acme")
    assert issued["subusers"] == ["acme"]
    as_acme = SendGridAPIClient(issued["token"], host=token_service.url, impersonate_subuser="acme").client
    assert as_acme.user.scheduled_sends.get().status_code == 200
    for subuser in ("globex", None):
        client = SendGridAPIClient(issued["token"], host=token_service.url, impersonate_subuser=subuser).client
        with pytest.raises(ForbiddenError) as refused:
            client.user.scheduled_sends.get()
        assert json.loads(refused.value.body)["errors"][0]["field"] == "on-behalf-of"
    assert [r.headers.get("on-behalf-of") for r in token_service.sandbox.api_requests] == ["acme"]


def test_another_teams_token_cannot_touch_a_teams_batch(token_service: LocalService) -> None:
    payments = SendGridAPIClient(_issue(token_service, "payments")["token"], host=token_service.url).client
    growth = SendGridAPIClient(_issue(token_service, "growth")["token"], host=token_service.url).client
    batch = payments.mail.batch.post().to_dict["batch_id"]
    payments.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"})
    with pytest.raises(ForbiddenError):
        growth.user.scheduled_sends._(batch).delete()
    assert token_service.sandbox.statuses() == {batch: "pause"}


def test_the_command_says_when_the_local_server_is_not_in_token_mode(local_service: LocalService) -> None:
    iam_mode = _tokens(local_service, "list")  # the default local server is in IAM mode: no token table
    assert iam_mode.returncode == 2
    assert "make run AUTH_MODE=TOKEN" in iam_mode.stderr
    stack = requests.get(f"{local_service.url}/_local/stack", timeout=5).json()
    assert stack["Outputs"]["AuthMode"] == "IAM" and "TeamTokensTableName" not in stack["Outputs"]


def test_the_command_refuses_bad_input_with_a_clear_message(token_service: LocalService) -> None:
    bad_team = _tokens(token_service, "issue", "--team", "no spaces allowed")
    assert bad_team.returncode == 2 and "team name" in bad_team.stderr
    bad_id = _tokens(token_service, "revoke", "not-an-id")
    assert bad_id.returncode == 2 and "token id" in bad_id.stderr
    unknown = _tokens(token_service, "revoke", "0" * 16)
    assert unknown.returncode == 3 and "no token" in unknown.stderr  # not found


def test_the_local_authorizer_event_has_the_shape_sam_generates_and_policies_are_enforced() -> None:
    seen: list[dict] = []

    def deny_everything_but_get(event: dict, context: object) -> dict:
        seen.append(event)
        effect = "Allow" if event["httpMethod"] == "GET" else "Deny"
        resource = event["methodArn"].rsplit("/", 2)[0] + "/*/*"
        statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
        return {"principalId": "team:x", "policyDocument": {"Statement": [statement]}, "context": {"team": "x"}}

    def request(method: str) -> dict:
        return proxy_event(
            method=method,
            resource="/user/scheduled_sends",
            path="/user/scheduled_sends",
            headers=[("Authorization", "Bearer t")],
            body=b"{}" if method == "POST" else None,
            caller_arn=None,
        )

    allowed = authorize(deny_everything_but_get, "Authorization", request("GET"), method_arn("us-east-1", "GET", "/x"))
    assert allowed == {"principalId": "team:x", "team": "x"}
    assert set(SAM_REQUEST_EVENT) <= set(seen[0]) and "body" not in seen[0]
    assert seen[0]["methodArn"] == "arn:aws:execute-api:us-east-1:000000000000:local/v3/GET/x"
    denied = authorize(deny_everything_but_get, "Authorization", request("POST"), method_arn("us-east-1", "POST", "/x"))
    assert denied.status == 403
    missing = authorize(deny_everything_but_get, "Authorization", {"headers": {}}, "arn")
    assert missing.status == 401 and len(seen) == 2  # no header: the authorizer is not even called


def test_make_run_auth_mode_token_serves_token_mode() -> None:
    process, port, banner = start_python_m_local("--parameter", "AuthMode=TOKEN", "--scan-seconds", "0")
    try:
        assert "Auth: TOKEN" in banner and "make token-issue" in banner, banner
        unsigned = requests.post(f"http://127.0.0.1:{port}/v3/mail/batch", timeout=10)
        assert unsigned.status_code == 401
        stack = requests.get(f"http://127.0.0.1:{port}/_local/stack", timeout=10).json()
        assert stack["Parameters"] == {"AuthMode": "TOKEN"} and "TeamTokensTableName" in stack["Outputs"]
    finally:
        process.kill()
        process.communicate(timeout=15)


@pytest.mark.parametrize(
    ("parameter", "message"),
    [("AuthMode=OPEN", "AuthMode must be one of IAM, TOKEN"), ("NoSuchThing=1", "no parameter NoSuchThing")],
)
def test_a_bad_parameter_stops_make_run_with_a_clear_message(parameter: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local", "--port", "0", "--parameter", parameter],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
