"""Many teams, one SendGrid account: ownership, the 10-slot and 10-minute rules, extension fields, write order.

Real HTTP to the stateful SendGrid sandbox, moto for DynamoDB and Secrets Manager, a test clock.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import boto3
import pytest

from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.entry import bootstrap
from tests.parts import FailingWrites
from tests.support import error_of, invoke

TEAM_A = "arn:aws:iam::111122223333:user/team-a"
TEAM_B = "arn:aws:iam::111122223333:user/team-b"
ADMIN = "arn:aws:iam::111122223333:role/ops"
ROLE_SESSION_1 = "arn:aws:sts::111122223333:assumed-role/marketing-app/session-1"
ROLE_SESSION_2 = "arn:aws:sts::111122223333:assumed-role/marketing-app/i-0123456789"
HOUR = 3600


@pytest.fixture(autouse=True)
def _admins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPALS", "arn:aws:sts::111122223333:assumed-role/ops/anyone")


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _create(caller: str, **body) -> str:
    response = invoke("create_batch_id", body=body or None, caller_arn=caller)
    assert response["statusCode"] == 201, response
    return json.loads(response["body"])["batch_id"]


def _pause(caller: str, batch_id: str, status: str = "pause", **extra) -> dict:
    return invoke("pause_or_cancel", body={"batch_id": batch_id, "status": status, **extra}, caller_arn=caller)


def test_the_creator_owns_a_batch_and_another_team_gets_403_everywhere(sandbox_sendgrid: SendGridSandbox, clock):
    batch = _create(TEAM_A)
    assert _pause(TEAM_A, batch)["statusCode"] == 201
    requests_before = len(sandbox_sendgrid.requests)

    attempts = [
        invoke("validate_batch_id", batch_id=batch, caller_arn=TEAM_B),
        _pause(TEAM_B, batch, "cancel"),
        invoke("get_scheduled_send", batch_id=batch, caller_arn=TEAM_B),
        invoke("update_scheduled_send", batch_id=batch, body={"status": "cancel"}, caller_arn=TEAM_B),
        invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM_B),
    ]

    for response in attempts:
        assert response["statusCode"] == 403
        assert "belongs to another team" in error_of(response)["message"]
    assert len(sandbox_sendgrid.requests) == requests_before  # none of it reached SendGrid
    assert sandbox_sendgrid.statuses() == {batch: "pause"}


def test_an_admin_may_act_on_any_batch_without_taking_it_over(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    batch = _create(TEAM_A)
    admin_session = "arn:aws:sts::111122223333:assumed-role/ops/pager-duty"
    assert _pause(admin_session, batch)["statusCode"] == 201
    assert invoke("resume_scheduled_send", batch_id=batch, caller_arn=admin_session)["statusCode"] == 204
    assert invoke("get_scheduled_send", batch_id=batch, caller_arn=TEAM_A)["statusCode"] == 404  # SendGrid's answer
    assert _pause(TEAM_A, batch)["statusCode"] == 201  # still team A's


def test_an_admin_role_with_a_path_acts_as_admin_in_its_sessions(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPALS", "arn:aws:iam::111122223333:role/ops/oncall")  # as IAM shows the role
    batch = _create(TEAM_A)
    session = "arn:aws:sts::111122223333:assumed-role/oncall/pager-duty"  # a session never shows the path

    assert _pause(session, batch)["statusCode"] == 201
    assert invoke("resume_scheduled_send", batch_id=batch, caller_arn=session)["statusCode"] == 204
    assert sandbox_sendgrid.statuses() == {}


def test_every_session_of_a_role_is_the_same_owner(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    batch = _create(ROLE_SESSION_1)
    paused = _pause(ROLE_SESSION_2, batch)
    assert paused["statusCode"] == 201
    assert json.loads(paused["body"])["owner"] == "arn:aws:iam::111122223333:role/marketing-app"


def test_a_batch_the_service_never_saw_is_refused_to_non_admins(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    foreign = sandbox_sendgrid_batch(sandbox_sendgrid)
    response = _pause(TEAM_A, foreign)
    assert response["statusCode"] == 403
    assert "no owner on record" in error_of(response)["message"]
    assert sandbox_sendgrid.statuses() == {}


def test_with_the_claim_policy_the_first_caller_claims_an_unknown_batch(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNKNOWN_BATCH_POLICY", "claim")
    foreign = sandbox_sendgrid_batch(sandbox_sendgrid)
    assert invoke("validate_batch_id", batch_id=foreign, caller_arn=TEAM_A)["statusCode"] == 200
    assert _pause(TEAM_B, foreign)["statusCode"] == 403
    assert _pause(TEAM_A, foreign)["statusCode"] == 201


def sandbox_sendgrid_batch(sandbox: SendGridSandbox) -> str:
    """A batch id created at SendGrid directly, not through the service."""
    import requests

    answer = requests.post(f"{sandbox.url}/v3/mail/batch", headers={"Authorization": f"Bearer {sandbox.api_key}"})
    return answer.json()["batch_id"]


def test_list_shows_each_team_its_own_batches_and_admins_all_with_extension_fields(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    send_at = clock.now + 2 * HOUR
    mine = _create(TEAM_A, send_at=send_at)
    theirs = _create(TEAM_B)
    _pause(TEAM_A, mine, expiry_action="resume")
    _pause(TEAM_B, theirs, "cancel")

    team_a = json.loads(invoke("list_scheduled_sends", caller_arn=TEAM_A)["body"])
    admin = json.loads(invoke("list_scheduled_sends", caller_arn=ADMIN)["body"])

    assert team_a == [
        {
            "batch_id": mine,
            "status": "pause",
            "owner": TEAM_A,
            "send_at": send_at,
            "expires_at": send_at + 72 * HOUR,
            "expires_at_basis": "send_at",
            "send_at_iso": _iso(send_at),
            "expires_at_iso": _iso(send_at + 72 * HOUR),
            "expiry_action": "resume",
        }
    ]
    assert {(e["batch_id"], e["status"], e["owner"]) for e in admin} == {
        (mine, "pause", TEAM_A),
        (theirs, "cancel", TEAM_B),
    }


def test_extension_fields_are_stored_and_never_sent_to_sendgrid(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    send_at = clock.now + HOUR
    batch = _create(TEAM_A, send_at=send_at, expiry_action="cancel")
    _pause(TEAM_A, batch)
    invoke("update_scheduled_send", batch_id=batch, body={"status": "cancel", "expiry_action": None}, caller_arn=TEAM_A)

    bodies = [r.body for r in sandbox_sendgrid.requests]
    assert bodies == [
        b"",
        json.dumps({"batch_id": batch, "status": "pause"}, separators=(",", ":")).encode(),
        b'{"status":"cancel"}',
    ]
    one = json.loads(invoke("get_scheduled_send", batch_id=batch, caller_arn=TEAM_A)["body"])
    assert one == [
        {
            "batch_id": batch,
            "status": "cancel",
            "owner": TEAM_A,
            "send_at": send_at,
            "expires_at": send_at + 72 * HOUR,
            "expires_at_basis": "send_at",
            "send_at_iso": _iso(send_at),
            "expires_at_iso": _iso(send_at + 72 * HOUR),
        }
    ]


@pytest.mark.parametrize(
    ("send_at_offset", "message"),
    [
        (72 * HOUR + 1, "more than 72 hours ahead"),
        (-72 * HOUR - 1, "in the past"),
        ("soon", "integer"),
        (True, "integer"),
    ],
)
def test_bad_send_at_is_refused_before_sendgrid(sandbox_sendgrid: SendGridSandbox, clock, send_at_offset, message):
    send_at = (
        clock.now + send_at_offset
        if isinstance(send_at_offset, int) and not isinstance(send_at_offset, bool)
        else send_at_offset
    )
    for response in (
        invoke("create_batch_id", body={"send_at": send_at}, caller_arn=TEAM_A),
        invoke("pause_or_cancel", body={"batch_id": "abc", "status": "pause", "send_at": send_at}, caller_arn=TEAM_A),
    ):
        assert response["statusCode"] == 400
        assert error_of(response)["field"] == "send_at"
        assert message in error_of(response)["message"]
    assert sandbox_sendgrid.requests == []


def test_bad_expiry_action_is_refused(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    response = invoke("create_batch_id", body={"expiry_action": "deliver"}, caller_arn=TEAM_A)
    assert response["statusCode"] == 400
    assert error_of(response)["field"] == "expiry_action"


def test_pause_or_cancel_within_ten_minutes_of_send_at_is_refused_with_when_the_window_closed(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    send_at = clock.now + 30 * 60
    batch = _create(TEAM_A, send_at=send_at)
    assert _pause(TEAM_A, batch)["statusCode"] == 201
    clock.now = send_at - 9 * 60
    sent = len(sandbox_sendgrid.requests)

    for response in (
        invoke("update_scheduled_send", batch_id=batch, body={"status": "cancel"}, caller_arn=TEAM_A),
        _pause(TEAM_A, _create(TEAM_A, send_at=send_at)),
    ):
        assert response["statusCode"] == 400
        message = error_of(response)["message"]
        closed = datetime.fromtimestamp(send_at - 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert f"window closed at {closed}" in message
        assert "10 minutes before send_at" in message
    assert len(sandbox_sendgrid.requests) == sent + 1  # only the second create reached SendGrid
    assert invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM_A)["statusCode"] == 204  # resume is fine


def test_restating_a_later_send_at_cannot_step_round_a_closed_window(sandbox_sendgrid: SendGridSandbox, clock):
    send_at = clock.now + 30 * 60
    batch = _create(TEAM_A, send_at=send_at)
    clock.now = send_at - 9 * 60  # the recorded window closed a minute ago
    sent = len(sandbox_sendgrid.requests)

    refused = _pause(TEAM_A, batch, send_at=clock.now + 2 * HOUR)

    assert refused["statusCode"] == 400
    error = error_of(refused)
    assert error["field"] == "send_at"
    closed = datetime.fromtimestamp(send_at - 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"window closed at {closed}" in error["message"]
    assert "moves send_at later" in error["message"]
    assert len(sandbox_sendgrid.requests) == sent  # nothing reached SendGrid
    assert sandbox_sendgrid.statuses() == {}


def test_a_later_send_at_is_a_correction_while_the_recorded_window_is_open(sandbox_sendgrid: SendGridSandbox, clock):
    send_at = clock.now + 30 * 60
    batch = _create(TEAM_A, send_at=send_at)
    clock.now = send_at - 11 * 60
    corrected = clock.now + 2 * HOUR

    paused = _pause(TEAM_A, batch, send_at=corrected)

    assert paused["statusCode"] == 201
    assert json.loads(paused["body"])["send_at"] == corrected
    assert sandbox_sendgrid.statuses() == {batch: "pause"}


def test_the_eleventh_batch_is_refused_naming_the_slots_once_sendgrids_own_list_agrees(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    team_a = [_create(TEAM_A, send_at=clock.now + HOUR, last_send_at=clock.now + HOUR) for _ in range(4)]
    team_b = [_create(TEAM_B) for _ in range(5)]
    for batch in team_a:
        _pause(TEAM_A, batch, "cancel")
    for batch in team_b:
        _pause(TEAM_B, batch)
    admins = [_create(ADMIN)]  # the tenth slot: non-admins hold at most nine together
    assert _pause(ADMIN, admins[0])["statusCode"] == 201
    eleventh = _create(TEAM_A)
    clock.now += HOUR + 15 * 60  # team A's cancels are past send_at: the scanner may reclaim them
    sent = len(sandbox_sendgrid.requests)

    refused = _pause(TEAM_A, eleventh)
    as_admin = _pause(ADMIN, eleventh)

    # The table's word alone never refuses a team: SendGrid's list was asked and nothing was sent. An admin is refused
    # by SendGrid alone (the ledger may count a resume SendGrid has applied and not yet answered): it was sent.
    assert [(r.method, r.path) for r in sandbox_sendgrid.requests[sent:]] == [
        ("GET", "/v3/user/scheduled_sends"),
        ("POST", "/v3/user/scheduled_sends"),
    ]
    body = json.loads(refused["body"])
    assert refused["statusCode"] == 400
    assert body["errors"][0]["message"].startswith("max limit reached: 10 of SendGrid's 10")
    assert "6 held by other teams" in body["errors"][0]["message"]
    assert body["rule"] == "sendgrid-limit"
    assert {s["batch_id"] for s in body["slots"]} == set(team_a)
    assert all(s["reclaimable"] for s in body["slots"])
    assert body["slots_held_by_others"] == 6
    assert not any(b in refused["body"] for b in team_b)  # other teams' batch ids are not shown
    admin_body = json.loads(as_admin["body"])
    assert as_admin["statusCode"] == 400 and admin_body["rule"] == "sendgrid-limit"
    assert {s["batch_id"] for s in admin_body["slots"]} == set(team_a) | set(team_b) | set(admins)
    assert admin_body["slots_held_by_others"] == 0
    ledger = boto3.resource("dynamodb").Table("batches").get_item(Key={"account": "#accounts", "batch_id": "parent"})
    assert eleventh not in ledger["Item"]["held"]  # SendGrid refused it for certain: its take was given back


def _refusal(response: dict) -> tuple[str, str]:
    assert response["statusCode"] == 400, response
    document = json.loads(response["body"])
    return document["rule"], document["errors"][0]["message"]


def test_slots_are_shared_fairly_a_team_quota_and_one_kept_for_admins(sandbox_sendgrid: SendGridSandbox, clock):
    team_a = [_create(TEAM_A) for _ in range(9)]
    team_b = [_create(TEAM_B) for _ in range(2)]
    admin_session = "arn:aws:sts::111122223333:assumed-role/ops/pager-duty"
    admin = [_create(admin_session) for _ in range(2)]
    for batch in team_a[:8]:
        assert _pause(TEAM_A, batch)["statusCode"] == 201

    sent = len(sandbox_sendgrid.requests)
    rule, message = _refusal(_pause(TEAM_A, team_a[8]))  # team A holds its 8 (SlotsPerTeam)
    assert rule == "team-quota"
    assert message.startswith("max limit reached: ")  # SendGrid's text first: callers match it
    assert "you hold 8 of the 8" in message and "team quota" in message

    assert _pause(TEAM_B, team_b[0])["statusCode"] == 201  # 9 held: the quota left room for team B
    rule, message = _refusal(_pause(TEAM_B, team_b[1]))  # the 10th is kept for admins
    assert rule == "admin-reserve"
    assert message.startswith("max limit reached: 9 of SendGrid's 10") and "kept for admins" in message
    # Only team B's first pause changed anything at SendGrid; each refusal first asked SendGrid's own list.
    listed, paused = ("GET", "/v3/user/scheduled_sends"), ("POST", "/v3/user/scheduled_sends")
    assert [(r.method, r.path) for r in sandbox_sendgrid.requests[sent:]] == [listed, paused, listed]

    assert _pause(admin_session, admin[0])["statusCode"] == 201  # an emergency stop is always possible
    rule, message = _refusal(_pause(admin_session, admin[1]))
    assert rule == "sendgrid-limit"
    assert message.startswith("max limit reached: 10 of SendGrid's 10")
    assert len(sandbox_sendgrid.statuses()) == 10


def test_the_team_quota_is_the_slots_per_team_setting(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOTS_PER_TEAM", "2")  # the template's SlotsPerTeam parameter
    batches = [_create(TEAM_A) for _ in range(3)]
    assert [_pause(TEAM_A, b)["statusCode"] for b in batches[:2]] == [201, 201]
    rule, message = _refusal(_pause(TEAM_A, batches[2]))
    assert rule == "team-quota" and "you hold 2 of the 2" in message
    assert invoke("resume_scheduled_send", batch_id=batches[0], caller_arn=TEAM_A)["statusCode"] == 204
    assert _pause(TEAM_A, batches[2])["statusCode"] == 201  # a freed slot is the team's again


def test_a_failed_table_write_after_sendgrid_succeeded_still_answers_sendgrids_success(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = _create(TEAM_A)

    def broken() -> BaseException:
        return boto3.client("dynamodb").exceptions.InternalServerError(
            {"Error": {"Code": "InternalServerError", "Message": "injected"}}, "UpdateItem"
        )

    bootstrap.use(store=FailingWrites(bootstrap.services().store, broken))  # every table write fails from now on
    response = _pause(TEAM_A, batch)

    assert response["statusCode"] == 201
    assert json.loads(response["body"]) == {"batch_id": batch, "status": "pause"}
    assert sandbox_sendgrid.statuses() == {batch: "pause"}
    assert '"StateWriteFailed":[1.0]' in capsys.readouterr().out
