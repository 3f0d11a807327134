"""A pause's or cancel's take puts its account first in line for the scanner's next reconcile, whatever became of
the change's answer, and never later than the account was already due: the take writes the account's registration
time as its next reconcile, and a reconcile whose list was read before the take's lease ended leaves that place
alone. Found by two reviews: the first version wrote `now` (an overdue account moved back); a reconcile in progress
overwrote a take's place with the idle interval (6 hours), also when the take came just before the list and its
change reached SendGrid just after; and the backlog metric counted accounts queued again during the run."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters.accounts import account_registry
from tests.support import SCANNER_TIMEOUT_MS, invoke, load_handler

TEAM = "arn:aws:iam::111122223333:user/team-a"
DAY = 86400
REGISTRY = {"account": "#accounts", "batch_id": "parent"}


def _table() -> Any:
    return boto3.resource("dynamodb").Table("batches")


def _registry() -> dict[str, Any]:
    return _table().get_item(Key=REGISTRY, ConsistentRead=True)["Item"]


def _create() -> str:
    created = invoke("create_batch_id", body={"send_at": 1_795_000_000 + DAY}, caller_arn=TEAM)
    assert created["statusCode"] == 201, created
    return json.loads(created["body"])["batch_id"]


def _pause(batch: str) -> dict[str, Any]:
    return invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)


def _scan() -> None:
    load_handler("expiry_scanner")({}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS))


def test_a_take_never_moves_an_overdue_reconcile_later(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    batch = _create()
    registered = int(_registry()["registered_at"])
    clock.now += 2 * 3600
    overdue = registered + 3600  # the scanner is behind: an hour overdue, and another account 10 minutes
    _table().update_item(Key=REGISTRY, UpdateExpression="SET due_at = :d", ExpressionAttributeValues={":d": overdue})
    _table().put_item(
        Item={"account": "#accounts", "batch_id": "other", "due_shard": "accounts", "due_at": clock.now - 600}
    )
    assert list(account_registry().due(clock.now)) == ["parent", "other"]

    assert _pause(batch)["statusCode"] == 201

    assert int(_registry()["due_at"]) <= overdue
    assert list(account_registry().due(clock.now)) == ["parent", "other"]


def test_a_take_brings_an_idle_accounts_reconcile_to_the_next_run(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    batch = _create()
    _scan()  # reconciled: nothing held, next in 6 hours
    assert int(_registry()["due_at"]) == clock.now + 6 * 3600
    clock.now += 60

    assert _pause(batch)["statusCode"] == 201

    assert list(account_registry().due(clock.now)) == ["parent"]
    clock.now += 300
    _scan()  # lists the pause: an account holding slots is reconciled every 15 minutes
    assert int(_registry()["due_at"]) == clock.now + 900


def test_a_pause_whose_answer_is_lost_during_a_reconcile_is_reconciled_at_the_next_run(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held
) -> None:
    """The scanner lists the account (no pause yet); before it writes the account's next reconcile, a pause is
    applied at SendGrid and every answer to it is lost. The reconcile must not schedule the account 6 hours out: the
    pause is missing from its list, and only the next reconcile finds it."""
    batch = _create()

    def pause_lost() -> None:
        sandbox_sendgrid.inject("drop", times=10, paths=("/v3/user/scheduled_sends",))
        assert _pause(batch)["statusCode"] >= 500  # applied by SendGrid, every answer lost
        sandbox_sendgrid.clear_faults()

    while_answer_held("GET", pause_lost)
    _scan()

    assert sandbox_sendgrid.statuses() == {batch: "pause"}
    assert list(account_registry().due(clock.now)) == ["parent"]  # first in line for the next run
    clock.now += 300
    _scan()
    row = _table().get_item(Key={"account": "parent", "batch_id": batch}, ConsistentRead=True)["Item"]
    assert row["status"] == "pause"  # found and recorded by that reconcile


def test_a_pause_taken_before_a_list_and_applied_after_it_is_reconciled_at_the_next_run(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The take is written at t. The scanner lists the account at t+1, before SendGrid applies the pause; then the
    pause is applied and every answer to it is lost. The list did not show it: until the take's lease ends, a list
    may miss its change, so the account stays first in line."""
    from scheduled_sends.adapters.sendgrid.router import RegionalSendGrid

    batch = _create()
    original = RegionalSendGrid.call
    scanned: list[bool] = []

    def call(self: Any, method: str, path: str, **kwargs: Any) -> Any:
        if method == "POST" and not scanned:
            scanned.append(True)
            clock.now += 1  # the pause's request is on its way to SendGrid
            _scan()  # lists the account: no pause yet
            sandbox_sendgrid.inject("drop", times=10, paths=("/v3/user/scheduled_sends",))
        return original(self, method, path, **kwargs)

    monkeypatch.setattr(RegionalSendGrid, "call", call)
    assert _pause(batch)["statusCode"] >= 500  # applied by SendGrid, every answer lost
    sandbox_sendgrid.clear_faults()

    assert sandbox_sendgrid.statuses() == {batch: "pause"}
    assert list(account_registry().due(clock.now)) == ["parent"]
    clock.now += 300
    _scan()  # lists it after the lease ended: the pause is found, and the account scheduled as usual
    assert int(_registry()["due_at"]) == clock.now + 900


def test_a_take_puts_its_account_ahead_of_accounts_overdue(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    """The price of "never later": an account with a change in flight is reconciled before accounts that waited
    longer (decision 0008), at most once per run for each take."""
    _create()  # registers the account
    clock.now += 30 * DAY
    created = invoke("create_batch_id", caller_arn=TEAM)
    batch = json.loads(created["body"])["batch_id"]
    _table().update_item(
        Key=REGISTRY, UpdateExpression="SET due_at = :d", ExpressionAttributeValues={":d": clock.now + 6 * 3600}
    )
    _table().put_item(
        Item={"account": "#accounts", "batch_id": "other", "due_shard": "accounts", "due_at": clock.now - 5 * 3600}
    )
    assert _pause(batch)["statusCode"] == 201
    assert list(account_registry().due(clock.now)) == ["parent", "other"]


def test_a_pause_during_a_run_that_caught_up_is_not_counted_as_backlog(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held
) -> None:
    """`ScannerReconcileDue` counts the accounts a run did not get to: one it reconciled and that a pause queued
    again meanwhile is the next run's work, not a backlog."""
    batch = _create()
    while_answer_held("GET", lambda: _pause(batch))
    counts = load_handler("expiry_scanner")({}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS))
    assert counts["reconciled"] == 1 and counts["stopped_early"] == 0
    assert counts["reconcile_due"] == 0, counts
    assert list(account_registry().due(clock.now)) == ["parent"]  # queued for the next run
