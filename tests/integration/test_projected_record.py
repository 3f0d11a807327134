"""A team's pause or cancel in two DynamoDB calls: its hold and its slot in one transaction before SendGrid, its
record after, copied from the row's projection (`domain.projection`) without reading the row. The record so written
is the row the read-based record writes, and every way it can fail falls back to that record."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
import botocore.client
import pytest

from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters.batches_table import PROJECTION, BatchStore, batch_from_item
from scheduled_sends.domain.ops_view import HISTORY_LIMIT
from tests.support import invoke

TEAM = "arn:aws:iam::111122223333:user/team-a"
TEAM_B = "arn:aws:iam::111122223333:user/team-b"
DAY = 86400


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every DynamoDB operation called from now on, in order."""
    made: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(client: Any, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            made.append(operation)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    return made


def _table() -> Any:
    return boto3.resource("dynamodb").Table("batches")


def _item(batch: str) -> dict[str, Any]:
    return _table().get_item(Key={"account": "parent", "batch_id": batch}, ConsistentRead=True)["Item"]


def _create_for(team: str, **stated: Any) -> str:
    created = invoke("create_batch_id", body=stated or None, caller_arn=team)
    assert created["statusCode"] == 201, created
    return json.loads(created["body"])["batch_id"]


def _create(**stated: Any) -> str:
    return _create_for(TEAM, **stated)


def _change(batch: str, status: str, team: str = TEAM) -> dict[str, Any]:
    return invoke("pause_or_cancel", body={"batch_id": batch, "status": status}, caller_arn=team)


def _ledger() -> set[str]:
    item = _table().get_item(Key={"account": "#accounts", "batch_id": "parent"}, ConsistentRead=True).get("Item", {})
    return set(item.get("held", set()))


def _without_projection(batch: str) -> None:
    """The row as an earlier release wrote it: no projection."""
    _table().update_item(
        Key={"account": "parent", "batch_id": batch},
        UpdateExpression="REMOVE #p",
        ExpressionAttributeNames={"#p": PROJECTION},
    )


def test_a_teams_pause_makes_two_dynamodb_calls(
    sandbox_sendgrid: SendGridSandbox, clock, dynamodb_calls: list[str]
) -> None:
    batch = _create(send_at=clock.now + DAY, expiry_action="resume")
    del dynamodb_calls[:]

    answer = _change(batch, "pause")

    assert answer["statusCode"] == 201, answer
    assert dynamodb_calls == ["TransactWriteItems", "UpdateItem"]  # hold and slot; record and release
    assert sandbox_sendgrid.statuses() == {batch: "pause"}
    body = json.loads(answer["body"])
    assert (body["owner"], body["send_at"], body["expiry_action"]) == (TEAM, clock.now + DAY, "resume")


def _comparable(item: dict[str, Any]) -> dict[str, Any]:
    """A row's attributes less what names its own batch or request (and the projection, which a projected record
    leaves in place: it is used only on a row of no status, and the row's next write drops it)."""
    own = {
        "batch_id",
        "expiry_order",
        "due_shard",
        "change_id",
        "change_event",
        "change_request_id",
        "created_at",
        PROJECTION,
    }
    history = [{k: v for k, v in entry.items() if k not in own} for entry in item.get("history", [])]
    return {k: v for k, v in item.items() if k not in own} | {"history": history}


@pytest.mark.parametrize(
    ("status", "stated"),
    [
        ("pause", {"send_at": 1_795_000_000 + DAY, "expiry_action": "resume"}),
        ("pause", {"send_at": 1_795_000_000 + DAY, "last_send_at": 1_795_000_000 + 2 * DAY}),
        ("pause", {}),  # expiry counted from the pause
        ("cancel", {"send_at": 1_795_000_000 + DAY, "last_send_at": 1_795_000_000 + 2 * DAY}),
        ("cancel", {"send_at": 1_795_000_000 + DAY}),  # never due: waits in the due index for its next write
        ("cancel", {}),  # never due either
    ],
)
def test_the_projected_record_writes_the_row_the_read_based_record_writes(
    sandbox_sendgrid: SendGridSandbox, clock, dynamodb_calls: list[str], status: str, stated: dict[str, Any]
) -> None:
    projected, from_the_row = _create(**stated), _create(**stated)
    _without_projection(from_the_row)
    clock.now += 600

    del dynamodb_calls[:]
    assert _change(projected, status)["statusCode"] == 201
    assert dynamodb_calls == ["TransactWriteItems", "UpdateItem"]
    del dynamodb_calls[:]
    assert _change(from_the_row, status)["statusCode"] == 201
    # A row written before projections: the projected record's condition fails, the record reads the row.
    assert dynamodb_calls == ["TransactWriteItems", "UpdateItem", "GetItem", "TransactWriteItems"]

    written, read_then_written = _item(projected), _item(from_the_row)
    never_due = "due_at" not in read_then_written
    if never_due:  # the projected row waits at "never" in the due index; the read-based record takes it out
        assert written.pop("due_at") > clock.now + 100 * 365 * DAY and "due_shard" in written
    assert _comparable(written) == _comparable(read_then_written)
    assert batch_from_item(written).expires_at == batch_from_item(read_then_written).expires_at


def test_a_recorded_change_whose_answer_was_lost_is_found_on_the_row(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch, json_logs
) -> None:
    """The projected write applied and its answer lost: the record from the row finds the change's own event id on
    it and leaves the row as it is (it no longer holds the lease: without the event id it would be "lease lost")."""
    batch = _create(send_at=clock.now + DAY)
    real: Callable[..., Any] = BatchStore.record_projected

    def lost(self: BatchStore, *args: Any, **kwargs: Any) -> Any:
        real(self, *args, **kwargs)
        raise ConnectionError("the answer was lost")

    monkeypatch.setattr(BatchStore, "record_projected", lost)
    answer = _change(batch, "pause")

    assert answer["statusCode"] == 201 and json.loads(answer["body"])["owner"] == TEAM
    (line,) = [json.loads(x) for x in json_logs.getvalue().splitlines() if '"scheduled send changed"' in x]
    item = _item(batch)
    assert line["recorded"] is True and line["event_id"] == item["change_id"] == item["change_event"]
    assert [entry["change_status"] for entry in item["history"]] == ["pause"]  # recorded once
    assert "lease_owner" not in item and item["status"] == "pause"


def test_a_status_set_since_the_hold_is_recorded_from_the_row(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held
) -> None:
    """Reconcile found the pause at SendGrid while its answer was held and recorded it: the projected record's
    condition (no status) fails and the record from the row records the team's change on what reconcile wrote."""
    batch = _create(send_at=clock.now + DAY)

    def reconciled_meanwhile() -> None:
        store: BatchStore = __import__("scheduled_sends.adapters.batches_table", fromlist=["x"]).batch_store()
        store.change("parent", batch, lambda row: row.with_status("pause", clock.now), clock.now)

    while_answer_held("POST", reconciled_meanwhile)
    answer = _change(batch, "pause")

    assert answer["statusCode"] == 201
    item = _item(batch)
    assert item["status"] == "pause" and item["change_status"] == "pause" and item["previous_status"] == "pause"


def test_history_appended_by_projected_records_is_bounded_on_read(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    batch = _create(send_at=clock.now + DAY)
    for _ in range(HISTORY_LIMIT // 2 + 1):
        assert _change(batch, "pause")["statusCode"] == 201
        assert invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM)["statusCode"] == 204
    assert _change(batch, "pause")["statusCode"] == 201

    item = _item(batch)
    assert len(item["history"]) == HISTORY_LIMIT + 1  # the resume's write bounded it; the pause appended one
    history = batch_from_item(item).history
    assert len(history) == HISTORY_LIMIT and history[0].status == "pause" and history[1].status is None


@pytest.mark.parametrize("projected", [True, False])
def test_the_record_is_stamped_with_the_time_it_is_written(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held, projected: bool
) -> None:
    """SendGrid takes 7 s to answer: the row says it was written after, not at the request's start (a slot check
    gives a slot back only from a row unwritten since its list). Found by a review: the projected record stamped
    the request's start."""
    batch = _create(send_at=clock.now + DAY)
    if not projected:
        _without_projection(batch)
    started = clock.now

    def slow_sendgrid() -> None:
        clock.now += 7

    while_answer_held("POST", slow_sendgrid)
    assert _change(batch, "pause")["statusCode"] == 201
    item = _item(batch)
    assert int(item["updated_at"]) == started + 7
    assert int(item["status_at"]) == int(item["held_since"]) == int(item["changed_at"]) == started


def test_a_slot_check_whose_list_predates_a_recorded_pause_keeps_its_slot(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Team A's pause of X is held and its slot taken at t0. Before SendGrid applies it, team B's pause is refused
    by its quota, and B's slot check reads SendGrid's list at t0+2 (X not in it). X is applied and recorded at t0+3,
    then B's slot check gives back the slots its list did not show, each only from a row unwritten since the list.
    Stamped with the request's start (t0), X's row looked unwritten since, and its slot was given back though
    SendGrid and the row hold it: the ledger one short. Found by a review; the threads are stepped by events."""
    from scheduled_sends.adapters.sendgrid.router import RegionalSendGrid

    monkeypatch.setenv("SLOTS_PER_TEAM", "5")
    team_b = [_create_for(TEAM_B) for _ in range(6)]
    for batch in team_b[:5]:
        assert _change(batch, "pause", TEAM_B)["statusCode"] == 201
    x = _create(send_at=clock.now + DAY)

    main = threading.current_thread()
    listed, recorded = threading.Event(), threading.Event()
    state: dict[str, Any] = {}
    original = RegionalSendGrid.call

    def b_pauses() -> None:
        state["b"] = _change(team_b[5], "pause", TEAM_B)

    def call(self: Any, method: str, path: str, **kwargs: Any) -> Any:
        if threading.current_thread() is main and method == "POST" and "thread" not in state:
            clock.now += 2  # B's request starts, and reads the list, before X's pause reaches SendGrid
            state["thread"] = threading.Thread(target=b_pauses)
            state["thread"].start()
            assert listed.wait(30)
            clock.now += 1
            return original(self, method, path, **kwargs)
        answer = original(self, method, path, **kwargs)
        if threading.current_thread() is state.get("thread") and method == "GET" and not listed.is_set():
            listed.set()  # B's list is read; B waits here until X's pause is recorded
            assert recorded.wait(30)
        return answer

    monkeypatch.setattr(RegionalSendGrid, "call", call)
    answer = _change(x, "pause")
    recorded.set()
    state["thread"].join(30)

    assert answer["statusCode"] == 201, answer
    assert state["b"]["statusCode"] == 400, state["b"]  # B's quota
    assert sandbox_sendgrid.statuses()[x] == "pause" and _item(x)["status"] == "pause"
    assert x in _ledger(), "the ledger lost the slot of a pause SendGrid and the row hold"


def test_an_owner_claimed_while_a_pause_is_in_flight_is_kept(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UnknownBatchPolicy=claim, a row nobody owns. Team A pauses it; while SendGrid's answer is held, team B's
    validate claims it (a write on the row's version, which keeps A's lease). The projected record would have
    written A as the owner over B's claim: its condition now requires the owner it was held under, and the record
    made from the row keeps B's. Found by a review."""
    monkeypatch.setenv("UNKNOWN_BATCH_POLICY", "claim")
    batch = _create(send_at=clock.now + DAY)
    _table().update_item(
        Key={"account": "parent", "batch_id": batch},
        UpdateExpression="REMOVE #o",
        ExpressionAttributeNames={"#o": "owner"},
    )
    claimed: list[dict[str, Any]] = []
    while_answer_held("POST", lambda: claimed.append(invoke("validate_batch_id", batch_id=batch, caller_arn=TEAM_B)))

    assert _change(batch, "pause")["statusCode"] == 201
    assert claimed[0]["statusCode"] == 200
    item = _item(batch)
    assert item["owner"] == TEAM_B and item["status"] == "pause"


def test_a_projection_from_other_send_times_is_not_used(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    """A row whose send_at was changed by a writer that does not make projections (an earlier release, during a
    gradual deployment): the projection's send_at is not the row's, and the record is made from the row."""
    batch = _create(send_at=clock.now + DAY)
    _table().update_item(
        Key={"account": "parent", "batch_id": batch},
        UpdateExpression="SET send_at = :later",
        ExpressionAttributeValues={":later": clock.now + 2 * DAY},
    )
    assert _change(batch, "pause")["statusCode"] == 201
    assert int(_item(batch)["expires_at"]) == clock.now + 2 * DAY + 72 * 3600
