"""The official `sendgrid` Python client, pointed at the local server with `host=`, drives all seven operations."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from python_http_client.exceptions import BadRequestsError, ForbiddenError, NotFoundError
from sendgrid import SendGridAPIClient

from local.server import DEFAULT_CALLER_ARN, LocalService


@pytest.fixture
def admin_service(start_local_service: Callable[..., LocalService]) -> LocalService:
    """The local server deployed with its local caller in AdminPrincipals (a template parameter)."""
    return start_local_service(parameters={"AdminPrincipals": DEFAULT_CALLER_ARN})


def _client(service: LocalService, subuser: str | None = None) -> SendGridAPIClient:
    # The bearer value is the caller's own and is never forwarded: the service uses its key from Secrets Manager.
    return SendGridAPIClient("team-credential-not-a-sendgrid-key", host=service.url, impersonate_subuser=subuser)


def _sendgrid_fields(document: dict) -> dict:
    """SendGrid's own fields; the service adds its extension fields (owner, send_at, ...) beside them."""
    return {key: document[key] for key in ("batch_id", "status") if key in document}


def _errors(error: Exception) -> list[dict]:
    return json.loads(error.body)["errors"]


def test_all_seven_operations_through_the_official_client(local_service: LocalService) -> None:
    sg = _client(local_service).client

    created = sg.mail.batch.post()
    assert created.status_code == 201
    batch = created.to_dict["batch_id"]

    assert sg.mail.batch._(batch).get().to_dict == {"batch_id": batch}

    paused = sg.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"})
    assert (paused.status_code, _sendgrid_fields(paused.to_dict)) == (201, {"batch_id": batch, "status": "pause"})
    assert paused.to_dict["owner"] == local_service.caller_arn

    listed = sg.user.scheduled_sends.get()  # the client now sends Content-Type: application/json on GET too
    assert [_sendgrid_fields(e) for e in listed.to_dict] == [{"batch_id": batch, "status": "pause"}]

    one = sg.user.scheduled_sends._(batch).get().to_dict
    assert [_sendgrid_fields(e) for e in one] == [{"batch_id": batch, "status": "pause"}]

    patched = sg.user.scheduled_sends._(batch).patch(request_body={"status": "cancel"})
    assert (patched.status_code, patched.body) == (204, b"")
    assert local_service.sandbox.statuses() == {batch: "cancel"}

    resumed = sg.user.scheduled_sends._(batch).delete()
    assert resumed.status_code == 204
    assert local_service.sandbox.statuses() == {}
    with pytest.raises(NotFoundError) as missing:
        sg.user.scheduled_sends._(batch).get()
    assert _errors(missing.value)[0]["message"] == "batch id not found"

    authorizations = {r.headers["Authorization"] for r in local_service.sandbox.requests}
    assert authorizations == {f"Bearer {local_service.api_key}"}


def test_impersonate_subuser_scopes_batches_to_that_subuser(local_service: LocalService) -> None:
    as_sub = _client(local_service, subuser="team-sub").client
    as_parent = _client(local_service).client
    batch = as_sub.mail.batch.post().to_dict["batch_id"]
    as_sub.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"})

    assert [_sendgrid_fields(e) for e in as_sub.user.scheduled_sends.get().to_dict] == [
        {"batch_id": batch, "status": "pause"}
    ]
    assert as_parent.user.scheduled_sends.get().to_dict == []
    assert local_service.sandbox.statuses("team-sub") == {batch: "pause"}
    assert local_service.sandbox.api_requests[-1].headers.get("on-behalf-of") is None
    assert {r.headers.get("on-behalf-of") for r in local_service.sandbox.api_requests[:3]} == {"team-sub"}


@pytest.mark.parametrize("bad", ["a%2Fb", "bad.id", "x" * 200])
def test_an_invalid_batch_id_is_refused_by_the_service_before_sendgrid(local_service: LocalService, bad: str) -> None:
    sg = _client(local_service).client
    with pytest.raises(BadRequestsError) as refused:
        sg.user.scheduled_sends._(bad).patch(request_body={"status": "pause"})
    assert _errors(refused.value)[0]["field"] == "batch_id"
    assert local_service.sandbox.requests == []


def test_a_batch_the_service_never_saw_is_refused_before_sendgrid(local_service: LocalService) -> None:
    sg = _client(local_service).client
    with pytest.raises(ForbiddenError) as refused:
        sg.mail.batch._("never-issued").get()
    assert "no owner on record" in _errors(refused.value)[0]["message"]
    assert local_service.sandbox.requests == []


def test_for_an_admin_a_batch_sendgrid_never_issued_is_sendgrids_400_and_404(admin_service: LocalService) -> None:
    sg = _client(admin_service).client
    with pytest.raises(BadRequestsError) as invalid:
        sg.mail.batch._("never-issued").get()
    sendgrids, ours = _errors(invalid.value)  # SendGrid's own first; then where the table holds it (nowhere)
    assert sendgrids == {"field": None, "message": "invalid batch id"}
    assert ours["field"] == "on-behalf-of" and "for no account" in ours["message"]
    with pytest.raises(NotFoundError):
        sg.user.scheduled_sends._("never-issued").delete()


def test_the_eleventh_paused_batch_is_refused_with_max_limit_reached(admin_service: LocalService) -> None:
    # An admin: others hold at most SlotsPerTeam (8) of the 10, and all non-admins together at most 9.
    sg = _client(admin_service).client
    batches = [sg.mail.batch.post().to_dict["batch_id"] for _ in range(11)]
    for batch in batches[:10]:
        sg.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"})
    with pytest.raises(BadRequestsError) as refused:
        sg.user.scheduled_sends.post(request_body={"batch_id": batches[10], "status": "pause"})
    message = _errors(refused.value)[0]["message"]
    assert message.startswith("max limit reached: 10 of SendGrid's 10 pause/cancel slots are held")
    assert all(batch in message for batch in batches[:10])  # all ten are the caller's own, so all are named
    assert admin_service.sandbox.statuses().keys() == set(batches[:10])


def test_a_team_over_its_quota_is_refused_with_max_limit_reached_naming_the_rule(local_service: LocalService) -> None:
    sg = _client(local_service).client
    batches = [sg.mail.batch.post().to_dict["batch_id"] for _ in range(9)]
    for batch in batches[:8]:
        sg.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"})
    with pytest.raises(BadRequestsError) as refused:
        sg.user.scheduled_sends.post(request_body={"batch_id": batches[8], "status": "pause"})
    body = json.loads(refused.value.body)
    assert body["errors"][0]["message"].startswith("max limit reached: you hold 8 of the 8")
    assert body["rule"] == "team-quota"
    assert local_service.sandbox.statuses().keys() == set(batches[:8])


def test_a_second_pause_says_try_patch(local_service: LocalService) -> None:
    sg = _client(local_service).client
    batch = sg.mail.batch.post().to_dict["batch_id"]
    sg.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"})
    with pytest.raises(BadRequestsError) as refused:
        sg.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "cancel"})
    assert "try PATCH" in _errors(refused.value)[0]["message"]


def test_two_teams_through_the_local_server_cannot_touch_each_others_batches(local_service: LocalService) -> None:
    team_a = {"X-Local-Caller-Arn": "arn:aws:iam::111122223333:user/team-a"}
    team_b = {"X-Local-Caller-Arn": "arn:aws:sts::111122223333:assumed-role/team-b/session"}
    sg = _client(local_service).client
    batch = sg.mail.batch.post(request_headers=team_a).to_dict["batch_id"]
    sg.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"}, request_headers=team_a)

    with pytest.raises(ForbiddenError) as refused:
        sg.user.scheduled_sends._(batch).delete(request_headers=team_b)
    assert "belongs to another team" in _errors(refused.value)[0]["message"]
    assert sg.user.scheduled_sends.get(request_headers=team_b).to_dict == []
    assert local_service.sandbox.statuses() == {batch: "pause"}
