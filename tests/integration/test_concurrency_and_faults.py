"""What holds when requests race each other or SendGrid fails for a while (cases an adversarial run probed).

Requests run on threads through the real handlers (in-process, as concurrent Lambda invocations would), against
the stateful SendGrid sandbox over loopback and moto. Every result is read with `.result()`, so an exception in
a handler fails the test; nothing sleeps. Only the sandbox's 429/500/503 faults are used (never its "slow" timing).
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters.batches_table import batch_store
from tests.support import OPERATIONS, SCANNER_TIMEOUT_MS, error_of, invoke, load_handler

TEAM_A = "arn:aws:iam::111122223333:user/team-a"
TEAM_B = "arn:aws:iam::111122223333:user/team-b"


@pytest.fixture(autouse=True)
def _handlers_loaded() -> None:
    """Import every handler once before threads call them (as each Lambda container has its own loaded)."""
    for operation in OPERATIONS:
        load_handler(operation)
    load_handler("expiry_scanner")


def _all(calls: list[Any]) -> list[dict]:
    """Run the calls at once; every handler's answer, or its exception re-raised here."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def _create(caller: str) -> str:
    response = invoke("create_batch_id", caller_arn=caller)
    assert response["statusCode"] == 201, response
    return json.loads(response["body"])["batch_id"]


def _table(account: str = "parent") -> dict[str, str]:
    """The slots the table records for the account: batch id -> status."""
    return {b.batch_id: b.status for b in batch_store().active(account)}


def _limit_message(response: dict) -> str:
    document = json.loads(response["body"])
    assert document["rule"] in ("sendgrid-limit", "team-quota", "admin-reserve")
    return document["errors"][0]["message"]


def _scan() -> None:
    load_handler("expiry_scanner")({}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS))


# -- races -------------------------------------------------------------------------------------------------
def test_twenty_concurrent_pauses_by_two_teams_never_pass_sendgrids_ten_and_the_table_agrees(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    batches = [(team, _create(team)) for team in (TEAM_A, TEAM_B) for _ in range(10)]

    answers = _all(
        [
            lambda team=team, batch=batch: invoke(
                "pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=team
            )
            for team, batch in batches
        ]
    )

    statuses = Counter(a["statusCode"] for a in answers)
    assert set(statuses) <= {201, 400}, statuses  # no 5xx, whatever the interleaving
    for refused in (a for a in answers if a["statusCode"] == 400):
        assert _limit_message(refused).startswith("max limit reached")
    at_sendgrid = sandbox_sendgrid.statuses()
    assert len(at_sendgrid) <= 10  # SendGrid's limit, never passed
    assert statuses[201] == len(at_sendgrid)  # every success is a slot at SendGrid, every slot a success
    assert _table() == at_sendgrid  # and the table records exactly those


def test_twenty_concurrent_creates_with_one_idempotency_key_make_one_batch_at_sendgrid(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    headers = [("Content-Type", "application/json"), ("Idempotency-Key", "order-42")]

    answers = _all([lambda: invoke("create_batch_id", headers=headers, caller_arn=TEAM_A) for _ in range(20)])

    created = [a for a in answers if a["statusCode"] == 201]
    in_progress = [a for a in answers if a["statusCode"] == 409]
    assert len(created) + len(in_progress) == 20  # each either has the batch or is told to come back
    assert created  # the first one, at least
    assert {json.loads(a["body"])["batch_id"] for a in created} == {json.loads(created[0]["body"])["batch_id"]}
    for answer in in_progress:
        assert error_of(answer)["field"] == "Idempotency-Key"
    creates = [r for r in sandbox_sendgrid.requests if (r.method, r.path) == ("POST", "/v3/mail/batch")]
    assert len(creates) == 1  # exactly one batch at SendGrid
    again = invoke("create_batch_id", headers=headers, caller_arn=TEAM_A)  # the key answers the same batch after
    assert json.loads(again["body"])["batch_id"] == json.loads(created[0]["body"])["batch_id"]


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_patch_delete_and_post_on_one_batch_agree_with_sendgrid_after_one_scan(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, round_: int
) -> None:
    # What holds: every answer is SendGrid's own and the owner stays; the status each request records may land in
    # another order than SendGrid applied them (SendGrid first, then the table), so right after the race the row
    # can differ from SendGrid. One scanner run (its reconcile, SendGrid being the source of truth) repairs it.
    batch = _create(TEAM_A)
    assert (
        invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM_A)["statusCode"] == 201
    )
    calls = [
        lambda: invoke("update_scheduled_send", batch_id=batch, body={"status": "cancel"}, caller_arn=TEAM_A),
        lambda: invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM_A),
        lambda: invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM_A),
        lambda: invoke("update_scheduled_send", batch_id=batch, body={"status": "pause"}, caller_arn=TEAM_A),
        lambda: invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM_A),
        lambda: invoke("pause_or_cancel", body={"batch_id": batch, "status": "cancel"}, caller_arn=TEAM_A),
    ] * 2

    answers = _all(calls)

    # SendGrid's own answers, or 409 for a change that met another's lease on the batch (nothing forwarded)
    assert {a["statusCode"] for a in answers} <= {201, 204, 400, 404, 409}
    assert batch_store().get("parent", batch).owner == TEAM_A
    clock.now += 60  # the next scheduled run (reconcile leaves rows written in the second it lists alone)
    _scan()
    at_sendgrid = sandbox_sendgrid.statuses()
    row = batch_store().get("parent", batch)
    assert (row.owner, row.status) == (TEAM_A, at_sendgrid.get(batch))
    assert _table() == at_sendgrid
    published = published_events()  # each validated against its schema by the fixture
    changes = {
        "Scheduled Send Paused",
        "Scheduled Send Cancelled",
        "Scheduled Send Status Changed",
        "Scheduled Send Resumed",
    }
    assert {e["detail-type"] for e in published} <= {"Scheduled Send Drift"} | changes
    recorded = [e["detail"] for e in published if e["detail-type"] in changes]
    # One event per recorded change. Events are delivered at least once (a stream record may be read again), so
    # an event may arrive twice, but one event_id never stands for two different changes.
    by_id: dict[str, list[dict]] = {}
    for detail in recorded:
        by_id.setdefault(detail["event_id"], []).append(detail)
    assert all(all(d == same[0] for d in same) for same in by_id.values()), by_id
    assert all(d["changed_by"] == TEAM_A for d in recorded)


# -- SendGrid failing for a while ----------------------------------------------------------------------------
# Each operation after its batch is ready: (operation, invoke arguments, SendGrid path it calls, its success).
def _ready(sandbox: SendGridSandbox, operation: str) -> tuple[dict[str, Any], str, int, dict[str, str]]:
    """Prepare a batch for `operation`: its invoke arguments, the path it calls, its success status and what
    SendGrid holds once it succeeded."""
    if operation == "create_batch_id":
        return {}, "/v3/mail/batch", 201, {}
    batch = _create(TEAM_A)
    if operation == "pause_or_cancel":
        body = {"batch_id": batch, "status": "pause"}
        return {"body": body}, "/v3/user/scheduled_sends", 201, {batch: "pause"}
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM_A)
    if operation == "update_scheduled_send":
        arguments = {"batch_id": batch, "body": {"status": "cancel"}}
        return arguments, f"/v3/user/scheduled_sends/{batch}", 204, {batch: "cancel"}
    return {"batch_id": batch}, f"/v3/user/scheduled_sends/{batch}", 204, {}


CHANGES = ["create_batch_id", "pause_or_cancel", "update_scheduled_send", "resume_scheduled_send"]


@pytest.mark.parametrize("fault", ["503", "500", "429"])
@pytest.mark.parametrize("operation", CHANGES)
def test_three_failures_in_a_row_are_absorbed_by_the_retries_and_the_change_is_made_once(
    sandbox_sendgrid: SendGridSandbox, clock, operation: str, fault: str
) -> None:
    arguments, path, success, expected = _ready(sandbox_sendgrid, operation)
    before = set(sandbox_sendgrid.statuses()) - set(expected)
    sent = len(sandbox_sendgrid.requests)
    sandbox_sendgrid.inject(fault, times=3, paths=(path,))

    response = invoke(operation, caller_arn=TEAM_A, **arguments)

    assert response["statusCode"] == success, response  # the 4th attempt (SENDGRID_MAX_ATTEMPTS) succeeded
    calls = [(r.method, r.path) for r in sandbox_sendgrid.requests[sent:]]
    assert len(calls) == 4 and len(set(calls)) == 1  # three failed attempts and one that worked, nothing else
    assert set(sandbox_sendgrid.statuses()) - before == set(expected)  # applied once
    assert {k: v for k, v in sandbox_sendgrid.statuses().items() if k in expected} == expected
    assert _table() == sandbox_sendgrid.statuses()  # and recorded as SendGrid has it


@pytest.mark.parametrize(("fault", "status"), [("503", 502), ("500", 502), ("429", 503)])
@pytest.mark.parametrize("operation", CHANGES)
def test_four_failures_in_a_row_are_a_clear_error_and_nothing_is_changed(
    sandbox_sendgrid: SendGridSandbox, clock, operation: str, fault: str, status: int
) -> None:
    arguments, path, _, _ = _ready(sandbox_sendgrid, operation)
    held = sandbox_sendgrid.statuses()
    recorded = _table()
    sent = len(sandbox_sendgrid.requests)
    sandbox_sendgrid.inject(fault, times=4, paths=(path,))

    response = invoke(operation, caller_arn=TEAM_A, **arguments)

    assert response["statusCode"] == status
    message = error_of(response)["message"]
    if fault == "429":
        assert "rate limiting" in message
        assert int(response["headers"]["Retry-After"]) >= 1  # when to come back
    else:
        assert f"SendGrid answered {fault}" in message
    assert len(sandbox_sendgrid.requests) - sent == 4  # every attempt used, no more
    assert sandbox_sendgrid.statuses() == held  # none of the attempts changed anything at SendGrid
    assert _table() == recorded  # nor in the table
