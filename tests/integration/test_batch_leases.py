"""Every change to a batch holds the batch: the operations' changes and the scanner's actions take the same lease
on its row. The interleavings are driven step by step: SendGrid's answer to a team's change is held (the call is
wrapped so that, after SendGrid applied the change and before its answer reaches the operation, another actor
runs to completion), so nothing races a clock."""

from __future__ import annotations

import json

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters import event_bus as bus
from scheduled_sends.adapters.batches_table import batch_store
from scheduled_sends.domain.send_windows import EXPIRY_SECONDS
from tests.support import SCANNER_TIMEOUT_MS, error_of, invoke, load_handler

TEAM = "arn:aws:iam::111122223333:user/team-a"
CHANGES = {bus.PAUSED, bus.CANCELLED, bus.STATUS_CHANGED, bus.RESUMED}


def _scan() -> dict:
    return load_handler("expiry_scanner")({}, LocalLambdaContext("scanner", remaining_ms=SCANNER_TIMEOUT_MS))


def _paused_with_resume_due(clock) -> str:
    """A batch paused without send_at, `expiry_action: resume`, its expiry action due now."""
    created = invoke("create_batch_id", body={"expiry_action": "resume"}, caller_arn=TEAM)
    batch = json.loads(created["body"])["batch_id"]
    paused = invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)
    assert paused["statusCode"] == 201
    clock.now += EXPIRY_SECONDS - 30 * 60
    return batch


def test_the_scanner_leaves_a_batch_while_a_teams_cancel_holds_it(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held
) -> None:
    batch = _paused_with_resume_due(clock)
    runs: list[dict] = []
    while_answer_held("PATCH", lambda: runs.append(_scan()))

    answer = invoke("update_scheduled_send", batch_id=batch, body={"status": "cancel"}, caller_arn=TEAM)

    assert answer["statusCode"] == 204
    assert sandbox_sendgrid.statuses() == {batch: "cancel"}  # the team's cancel stands at SendGrid
    assert runs[0]["actioned"] == 0  # the scanner met the team's lease and left the batch to its next run
    assert ("DELETE", f"/v3/user/scheduled_sends/{batch}") not in [
        (r.method, r.path) for r in sandbox_sendgrid.requests
    ]
    row = batch_store().get("parent", batch)
    assert (row.status, row.lease_owner, row.action_taken) == ("cancel", None, None)  # and in the table; released
    clock.now += 60
    assert _scan()["actioned"] == 0  # a cancelled batch has no resume to take
    assert sandbox_sendgrid.statuses() == {batch: "cancel"}


def test_a_teams_change_meeting_the_scanners_lease_is_a_409_and_nothing_is_forwarded(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held
) -> None:
    batch = _paused_with_resume_due(clock)
    refused: list[dict] = []
    while_answer_held(
        "DELETE",  # the scanner's resume, applied at SendGrid: the team's cancel comes while it holds the batch
        lambda: refused.append(
            invoke("update_scheduled_send", batch_id=batch, body={"status": "cancel"}, caller_arn=TEAM)
        ),
    )

    assert _scan()["actioned"] == 1

    (answer,) = refused
    assert answer["statusCode"] == 409
    assert 1 <= int(answer["headers"]["Retry-After"]) <= 600
    assert error_of(answer)["message"].startswith("the expiry scanner is acting on this batch")
    assert [r.method for r in sandbox_sendgrid.requests if r.method == "PATCH"] == []  # nothing forwarded
    assert sandbox_sendgrid.statuses() == {}  # resumed, as the table says
    row = batch_store().get("parent", batch)
    assert (row.status, row.action_taken, row.lease_owner) == (None, "resume", None)


def test_concurrent_changes_by_the_owner_are_each_applied_and_recorded_or_refused_unsent(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, while_answer_held
) -> None:
    created = invoke("create_batch_id", caller_arn=TEAM)
    batch = json.loads(created["body"])["batch_id"]
    assert invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)["statusCode"] == 201
    before = len(sandbox_sendgrid.requests)
    answers: list[dict] = []

    def patch(number: int) -> dict:
        status = "cancel" if number % 2 else "pause"
        return invoke(
            "update_scheduled_send", batch_id=batch, body={"status": status}, caller_arn=TEAM, request_id=f"r{number}"
        )

    # The first PATCH is applied at SendGrid; while its answer is held, the eleven others arrive.
    while_answer_held("PATCH", lambda: answers.extend(patch(n) for n in range(1, 12)))
    answers.insert(0, patch(0))

    codes = [a["statusCode"] for a in answers]
    forwarded = [r for r in sandbox_sendgrid.requests[before:] if r.method == "PATCH"]
    recorded = [d for t, d in ((e["detail-type"], e["detail"]) for e in published_events()) if t in CHANGES]
    recorded_patches = [d for d in recorded if d.get("request_id", "").startswith("r")]
    assert len(forwarded) == codes.count(204) == len(recorded_patches)  # every applied change has its record
    assert sorted(codes) == [204] + [409] * 11, codes
    assert all("another change to this batch is in progress" in error_of(a)["message"] for a in answers[1:])
    assert batch_store().get("parent", batch).status == "pause" == sandbox_sendgrid.statuses()[batch]
