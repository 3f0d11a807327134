"""Every status change made through the API is one event naming who made it, from which status to which.

The operations record the change on the batch's row; the events come from the table's stream through the template's
pipe, which `published_events` reproduces from moto's stream records with the pipe's own filter and input template
(and validates against its schema). Nothing else that writes a row - a failed change, a create, a claim, the
scanner - publishes a change event.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local.events import LocalLambdaContext
from local.pipe import STREAMS_CLIENT_CONFIG, table_pipe
from local.sendgrid_sandbox import SendGridSandbox
from local.template import load_template
from scheduled_sends.adapters import event_bus as bus
from scheduled_sends.adapters.batches_table import BatchStore, batch_store
from scheduled_sends.domain.send_windows import EXPIRY_SECONDS
from tests.support import SCANNER_TIMEOUT_MS, error_of, invoke, load_handler

TEAM = "arn:aws:iam::111122223333:user/team-a"
OTHER_TEAM = "arn:aws:iam::111122223333:user/team-b"
ADMIN_SESSION = "arn:aws:sts::111122223333:assumed-role/ops/alice"
ADMIN_ROLE = "arn:aws:iam::111122223333:role/ops"
CHANGES = {bus.PAUSED, bus.CANCELLED, bus.STATUS_CHANGED, bus.RESUMED}
HOUR = 3600


@pytest.fixture(autouse=True)
def _admins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPALS", ADMIN_ROLE)


def _create(caller: str = TEAM, **body: Any) -> str:
    created = invoke("create_batch_id", body=body or None, caller_arn=caller)
    assert created["statusCode"] == 201, created
    return json.loads(created["body"])["batch_id"]


def _changes(events: list[dict]) -> list[tuple[str, dict]]:
    return [(e["detail-type"], e["detail"]) for e in events if e["detail-type"] in CHANGES]


def test_each_change_is_one_event_with_who_which_request_and_from_and_to(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    batch = _create()
    steps = [
        ("pause_or_cancel", {"body": {"batch_id": batch, "status": "pause"}}, 201),
        ("update_scheduled_send", {"batch_id": batch, "body": {"status": "cancel"}}, 204),
        ("update_scheduled_send", {"batch_id": batch, "body": {"status": "pause"}}, 204),
        ("resume_scheduled_send", {"batch_id": batch}, 204),
    ]
    for number, (operation, arguments, status) in enumerate(steps):
        answer = invoke(operation, caller_arn=TEAM, request_id=f"request-{number}", **arguments)
        assert answer["statusCode"] == status, answer

    changes = _changes(published_events())
    assert [(kind, d["previous_status"], d["status"]) for kind, d in changes] == [
        (bus.PAUSED, "none", "pause"),
        (bus.STATUS_CHANGED, "pause", "cancel"),
        (bus.STATUS_CHANGED, "cancel", "pause"),
        (bus.RESUMED, "pause", "none"),
    ]
    for number, (_, detail) in enumerate(changes):
        assert detail["request_id"] == f"request-{number}"
        assert detail["changed_by"] == detail["caller"] == detail["owner"] == TEAM
        assert (detail["account"], detail["on_behalf_of"], detail["region"]) == ("parent", "", "global")
        assert detail["batch_id"] == batch
    assert len({d["event_id"] for _, d in changes}) == 4
    row = batch_store().get("parent", batch)
    assert row.change.event_id == changes[-1][1]["event_id"]  # the row keeps its last change: who, when, which
    assert (row.change.changed_by, row.change.request_id, row.change.previous_status) == (TEAM, "request-3", "pause")


def test_a_cancel_is_announced_as_cancelled_with_the_subusers_account_and_region(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    headers = [("Content-Type", "application/json"), ("on-behalf-of", "acme")]
    created = invoke("create_batch_id", caller_arn=TEAM, headers=headers)
    batch = json.loads(created["body"])["batch_id"]
    answer = invoke("pause_or_cancel", body={"batch_id": batch, "status": "cancel"}, caller_arn=TEAM, headers=headers)
    assert answer["statusCode"] == 201

    ((kind, detail),) = _changes(published_events())
    assert kind == bus.CANCELLED
    assert (detail["account"], detail["on_behalf_of"], detail["status"]) == ("sub:acme", "acme", "cancel")


def test_an_admin_session_is_named_as_its_role_and_as_itself_beside_the_owner(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    batch = _create()
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)

    resumed = invoke("resume_scheduled_send", batch_id=batch, caller_arn=ADMIN_SESSION)

    assert resumed["statusCode"] == 204
    ((_, paused), (kind, detail)) = _changes(published_events())
    assert paused["changed_by"] == TEAM
    assert kind == bus.RESUMED
    assert (detail["changed_by"], detail["caller"], detail["owner"]) == (ADMIN_ROLE, ADMIN_SESSION, TEAM)


def test_a_team_token_is_named_as_its_team(sandbox_sendgrid: SendGridSandbox, clock, published_events) -> None:
    team = {"principalId": "team:payments", "team": "payments", "subusers_json": "[]"}
    batch = json.loads(invoke("create_batch_id", authorizer=team)["body"])["batch_id"]

    paused = invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, authorizer=team)

    assert paused["statusCode"] == 201
    ((kind, detail),) = _changes(published_events())
    assert (kind, detail["changed_by"], detail["caller"], detail["owner"]) == (
        bus.PAUSED,
        "team:payments",
        "team:payments",
        "team:payments",
    )


def test_nothing_is_announced_for_a_change_that_did_not_happen(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    batch = _create()
    refused = [
        invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=OTHER_TEAM),  # 403
        invoke("pause_or_cancel", body={"batch_id": batch, "status": "stop"}, caller_arn=TEAM),  # 400, ours
        invoke("update_scheduled_send", batch_id=batch, body={"status": "cancel"}, caller_arn=TEAM),  # SendGrid 404
        invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM),  # SendGrid 404: nothing to resume
        invoke("pause_or_cancel", body={"batch_id": "never-seen", "status": "pause"}, caller_arn=TEAM),  # 403
    ]
    assert [r["statusCode"] for r in refused] == [403, 400, 404, 404, 403]
    sandbox_sendgrid.inject("500", times=10)
    assert invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)["statusCode"] == 502

    assert _changes(published_events()) == []


def test_creates_claims_reads_and_the_scanners_own_writes_announce_no_change(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNKNOWN_BATCH_POLICY", "claim")
    send_at = clock.now + HOUR
    batch = _create(send_at=send_at, expiry_action="resume")
    unknown = sandbox_sendgrid_batch(sandbox_sendgrid)
    assert invoke("validate_batch_id", batch_id=unknown, caller_arn=TEAM)["statusCode"] == 200  # a claim
    assert invoke("get_scheduled_send", batch_id=batch, caller_arn=TEAM)["statusCode"] == 404
    assert invoke("list_scheduled_sends", caller_arn=TEAM)["statusCode"] == 200
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)
    assert [kind for kind, _ in _changes(published_events())] == [bus.PAUSED]

    scanner = load_handler("expiry_scanner")
    expiry = send_at + EXPIRY_SECONDS
    for before in (24 * HOUR, 6 * HOUR, HOUR, 30 * 60):  # three warnings (each leased first), then the resume
        clock.now = expiry - before + 60
        scanner({"source": "aws.events"}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS))

    events = published_events()
    assert {e["detail-type"] for e in events} == {bus.EXPIRY_WARNING, bus.EXPIRY_ACTION_TAKEN}
    assert sandbox_sendgrid.statuses() == {}  # the scanner resumed it - its own event says so, not a change event


def sandbox_sendgrid_batch(sandbox: SendGridSandbox) -> str:
    """A batch id SendGrid made that the service never saw (made with the key directly)."""
    import requests

    made = requests.post(f"{sandbox.url}/v3/mail/batch", headers={"Authorization": f"Bearer {sandbox.api_key}"})
    return made.json()["batch_id"]


def test_a_change_whose_record_failed_announces_nothing_but_is_logged_with_who_made_it(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, json_logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _create()

    def table_down(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(BatchStore, "change", table_down)
    monkeypatch.setattr(BatchStore, "record_projected", table_down)
    answer = invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM, request_id="r-1")

    assert answer["statusCode"] == 201  # SendGrid applied it; the scanner's reconcile repairs the row
    assert _changes(published_events()) == []
    (line,) = [json.loads(x) for x in json_logs.getvalue().splitlines() if '"scheduled send changed"' in x]
    assert {k: line[k] for k in ("batch_id", "changed_by", "request_id", "previous_status", "status", "recorded")} == {
        "batch_id": batch,
        "changed_by": TEAM,
        "request_id": "r-1",
        "previous_status": "none",
        "status": "pause",
        "recorded": False,
    }


def test_the_audit_line_of_a_recorded_change_carries_its_event_id(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, json_logs
) -> None:
    batch = _create()
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "cancel"}, caller_arn=ADMIN_SESSION, request_id="r-2")

    ((_, detail),) = _changes(published_events())
    (line,) = [json.loads(x) for x in json_logs.getvalue().splitlines() if '"scheduled send changed"' in x]
    assert line["event_id"] == detail["event_id"]
    assert (line["change"], line["changed_by"], line["caller"], line["recorded"]) == (
        bus.CANCELLED,
        ADMIN_ROLE,
        ADMIN_SESSION,
        True,
    )
    assert line["correlation_id"] == "r-2"  # Powertools' request id: the saved query's request_id column too


def test_reading_the_stream_again_gives_the_same_events_with_the_same_ids(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    """The pipe reads the stream at least once; a record read twice is the same event (dedupe by event_id)."""
    batch = _create()
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)
    invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM)
    first = [d["event_id"] for _, d in _changes(published_events())]

    again = table_pipe(
        load_template(),
        boto3.client("dynamodb"),
        boto3.client("dynamodbstreams", config=STREAMS_CLIENT_CONFIG),
        boto3.client("events"),
        "batches",
        "scheduled-sends-events",
    ).pump()  # a second reader from the stream's oldest record

    assert [json.loads(e["Detail"])["event_id"] for e in again] == first
    assert [d["event_id"] for _, d in _changes(published_events())] == first  # delivered twice, same ids


def test_the_no_owner_refusal_names_the_account_asked_for_and_on_behalf_of(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    batch = _create()  # for the parent account
    for_subuser = [("Content-Type", "application/json"), ("on-behalf-of", "acme")]

    refused = invoke(
        "pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM, headers=for_subuser
    )

    assert refused["statusCode"] == 403
    message = error_of(refused)["message"]
    assert "no owner on record for batch id" in message
    assert "on-behalf-of acme" in message and "the same on-behalf-of as when the batch id was created" in message
    parent = error_of(invoke("resume_scheduled_send", batch_id="made-for-acme", caller_arn=TEAM))["message"]
    assert "the parent account (no on-behalf-of)" in parent and "send that subuser's name in on-behalf-of" in parent
