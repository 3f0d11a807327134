"""SlotReclaim=notify: a finished batch whose SendGrid entry is left in place still takes one of the account's
10 slots, so the team quota and the admin reserve count it until the entry is gone.

Real HTTP to the stateful SendGrid sandbox, moto for DynamoDB and EventBridge, a test clock.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import requests

from local.container import reset_container
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters import event_bus as bus
from scheduled_sends.adapters.batches_table import batch_store
from scheduled_sends.domain.scan_plan import RECLAIM_GRACE_SECONDS
from scheduled_sends.domain.send_windows import EXPIRY_SECONDS
from tests.integration.test_expiry_scanner import _of_type, scan
from tests.support import invoke

TEAM_A = "arn:aws:iam::111122223333:user/team-a"
TEAM_B = "arn:aws:iam::111122223333:user/team-b"
ADMIN = "arn:aws:iam::111122223333:user/oncall"
HOUR = 3600
# Past the grace after which the scanner finishes a batch of one send at send_in=HOUR, by its status.
FINISHED_AFTER = {
    "cancel": HOUR + RECLAIM_GRACE_SECONDS + 60,
    "pause": HOUR + EXPIRY_SECONDS + RECLAIM_GRACE_SECONDS + 60,
}
FINISHED_AS = {"cancel": "discarded", "pause": "expired"}
RECONCILE_DUE = 16 * 60  # more than the active interval (RECONCILE_ACTIVE_SECONDS, 900)


@pytest.fixture(autouse=True)
def _notify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOT_RECLAIM", "notify")
    monkeypatch.setenv("ADMIN_PRINCIPALS", ADMIN)


def _create(clock, caller: str, send_in: int = 3 * HOUR) -> str:
    send_at = clock.now + send_in
    created = invoke("create_batch_id", body={"send_at": send_at, "last_send_at": send_at}, caller_arn=caller)
    assert created["statusCode"] == 201, created
    return json.loads(created["body"])["batch_id"]


def _pause(caller: str, batch_id: str, status: str = "pause") -> dict:
    return invoke("pause_or_cancel", body={"batch_id": batch_id, "status": status}, caller_arn=caller)


def _refusal(response: dict) -> dict:
    assert response["statusCode"] == 400, response
    return json.loads(response["body"])


def _finished_but_left(clock, status: str = "cancel") -> str:
    """A batch of team A the scanner finished while SendGrid's entry of it stays (notify mode)."""
    batch = _create(clock, TEAM_A, send_in=HOUR)
    assert _pause(TEAM_A, batch, status)["statusCode"] == 201
    clock.now += FINISHED_AFTER[status]
    scan()
    assert batch_store().get("parent", batch).status == FINISHED_AS[status]
    return batch


def _team_a_at_its_quota_of_two(clock) -> list[str]:
    """Team A (SLOTS_PER_TEAM=2, one slot taken by the left entry) pauses one batch, and its second is refused."""
    batches = [_create(clock, TEAM_A) for _ in range(2)]
    assert _pause(TEAM_A, batches[0])["statusCode"] == 201
    assert _refusal(_pause(TEAM_A, batches[1]))["rule"] == "team-quota"  # the left entry counts
    return batches


def test_a_discarded_cancel_left_at_sendgrid_counts_against_the_team_quota_and_the_admin_reserve(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    left = _finished_but_left(clock)
    assert left in sandbox_sendgrid.statuses()  # notify: the entry stays, and so does its slot

    team_a = [_create(clock, TEAM_A) for _ in range(8)]
    assert [_pause(TEAM_A, b)["statusCode"] for b in team_a[:7]] == [201] * 7
    refused = _refusal(_pause(TEAM_A, team_a[7]))  # the left entry is team A's eighth slot
    assert refused["rule"] == "team-quota"
    message = refused["errors"][0]["message"]
    assert "you hold 8 of the 8" in message and f"{left} (discarded, reclaimable)" in message
    assert {s["batch_id"]: s["reclaimable"] for s in refused["slots"]}[left] is True

    team_b = [_create(clock, TEAM_B) for _ in range(2)]
    assert _pause(TEAM_B, team_b[0])["statusCode"] == 201  # 9 held
    assert _refusal(_pause(TEAM_B, team_b[1]))["rule"] == "admin-reserve"  # the 9th non-admin slot was taken

    assert _pause(ADMIN, _create(clock, ADMIN))["statusCode"] == 201  # an emergency stop still fits
    assert len(sandbox_sendgrid.statuses()) == 10

    for _ in range(3):  # later runs do not announce the same reclaimable slot again
        clock.now += RECONCILE_DUE
        scan()
    assert [e["batch_id"] for e in _of_type(published_events(), bus.SLOT_RECLAIMABLE)] == [left]


@pytest.mark.parametrize("status", ["cancel", "pause"])
def test_an_entry_deleted_outside_the_service_frees_its_counted_slot_at_reconcile_without_drift(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    monkeypatch.setenv("SLOTS_PER_TEAM", "2")
    left = _finished_but_left(clock, status)
    batches = _team_a_at_its_quota_of_two(clock)

    requests.delete(
        f"{sandbox_sendgrid.url}/v3/user/scheduled_sends/{left}",
        headers={"Authorization": f"Bearer {sandbox_sendgrid.api_key}"},
    )
    clock.now += RECONCILE_DUE
    assert scan()["drift"] == 0  # the row was right: it is finished; only its slot is free now

    row = batch_store().get("parent", left)
    assert (row.status, row.holds_slot) == (FINISHED_AS[status], False)
    assert left not in {b.batch_id for b in batch_store().active("parent")}
    assert _of_type(published_events(), bus.DRIFT) == []
    assert _pause(TEAM_A, batches[1])["statusCode"] == 201


def test_resuming_a_left_entry_through_the_api_frees_its_slot(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOTS_PER_TEAM", "2")
    left = _finished_but_left(clock)
    batches = _team_a_at_its_quota_of_two(clock)

    assert invoke("resume_scheduled_send", batch_id=left, caller_arn=TEAM_A)["statusCode"] == 204
    assert left not in sandbox_sendgrid.statuses()
    assert batch_store().get("parent", left).holds_slot is False
    assert _pause(TEAM_A, batches[1])["statusCode"] == 201


def test_reconcile_counts_a_finished_entry_still_listed_whose_row_does_not_say_so(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch finished in notify mode before rows recorded a left entry: SendGrid's list says it still holds one."""
    monkeypatch.setenv("SLOTS_PER_TEAM", "2")
    left = _finished_but_left(clock)
    store = batch_store()
    store.change("parent", left, lambda row: replace(row, entry_left=False), clock.now)
    assert left not in {b.batch_id for b in store.active("parent")}

    clock.now += RECONCILE_DUE
    assert scan()["drift"] == 0
    assert left in {b.batch_id for b in store.active("parent")}
    _team_a_at_its_quota_of_two(clock)


def test_switched_to_auto_reconcile_reclaims_a_left_entry_and_stops_counting_it(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch, published_events
) -> None:
    monkeypatch.setenv("SLOTS_PER_TEAM", "2")
    left = _finished_but_left(clock)
    _team_a_at_its_quota_of_two(clock)

    monkeypatch.setenv("SLOT_RECLAIM", "auto")  # the stack redeployed with SlotReclaim=auto
    reset_container()
    clock.now += RECONCILE_DUE
    scan()

    assert left not in sandbox_sendgrid.statuses()
    assert [e["batch_id"] for e in _of_type(published_events(), bus.SLOT_RECLAIMED)] == [left]
    assert left not in {b.batch_id for b in batch_store().active("parent")}  # not counted until the next list
