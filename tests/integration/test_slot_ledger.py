"""The slot rules hold under concurrency: a pause or cancel takes its slot in the account's ledger, in one conditional
write, before SendGrid is called. The interleavings are driven step by step: SendGrid's answer to one team's pause is
held while other pauses run to completion (`while_answer_held`), so nothing races a clock. Each of the first two
tests fails on the code that judged the rules on a read of the table (a pause in flight was not counted)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import requests

from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters.batches_table import batch_store
from scheduled_sends.domain import slot_quota
from tests.support import SCANNER_TIMEOUT_MS, invoke, load_handler

TEAM_A = "arn:aws:iam::111122223333:user/team-a"
TEAM_B = "arn:aws:iam::111122223333:user/team-b"
ADMIN = "arn:aws:iam::111122223333:role/ops"
QUOTA = 5


@pytest.fixture(autouse=True)
def _rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOTS_PER_TEAM", str(QUOTA))
    monkeypatch.setenv("ADMIN_PRINCIPALS", ADMIN)


def _batch(team: str) -> str:
    created = invoke("create_batch_id", caller_arn=team)
    assert created["statusCode"] == 201, created
    return json.loads(created["body"])["batch_id"]


def _pause(team: str, batch: str) -> dict[str, Any]:
    return invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=team)


def _ledger(account: str = "parent") -> set[str]:
    item = boto3.resource("dynamodb").Table("batches").get_item(Key={"account": "#accounts", "batch_id": account})
    return set(item.get("Item", {}).get("held", set()))


def _held_by(sandbox: SendGridSandbox, *batches: str) -> int:
    return sum(1 for batch in sandbox.statuses() if batch in batches)


def test_pauses_during_a_teams_pause_in_flight_leave_the_admins_slot_free(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held
) -> None:
    a = [_batch(TEAM_A) for _ in range(QUOTA)]
    b = [_batch(TEAM_B) for _ in range(QUOTA)]
    answers: list[dict[str, Any]] = []
    # Team A's first pause is applied at SendGrid; while its answer is held, every other pause of both teams comes.
    others = [(TEAM_A, x) for x in a[1:]] + [(TEAM_B, x) for x in b]
    while_answer_held("POST", lambda: answers.extend(_pause(team, x) for team, x in others))
    answers.insert(0, _pause(TEAM_A, a[0]))

    teams_hold = _held_by(sandbox_sendgrid, *a, *b)
    assert teams_hold == slot_quota.MAX_ACTIVE_BATCHES - slot_quota.ADMIN_RESERVED_SLOTS, sandbox_sendgrid.statuses()
    refused = [json.loads(answer["body"]) for answer in answers if answer["statusCode"] != 201]
    assert [r["rule"] for r in refused] == [slot_quota.ADMIN_RESERVE]  # the tenth, named
    emergency = _pause(ADMIN, _batch(ADMIN))
    assert emergency["statusCode"] == 201, emergency  # the admin's pause fits
    assert _ledger() == set(sandbox_sendgrid.statuses())


def test_a_team_pausing_during_its_own_pause_in_flight_stays_within_its_quota(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held
) -> None:
    a = [_batch(TEAM_A) for _ in range(QUOTA + 2)]
    answers: list[dict[str, Any]] = []
    while_answer_held("POST", lambda: answers.extend(_pause(TEAM_A, x) for x in a[1:]))
    answers.insert(0, _pause(TEAM_A, a[0]))

    assert _held_by(sandbox_sendgrid, *a) == QUOTA, sandbox_sendgrid.statuses()
    assert [a["statusCode"] for a in answers] == [201] * QUOTA + [400] * 2
    assert {json.loads(answer["body"])["rule"] for answer in answers[QUOTA:]} == {slot_quota.TEAM_QUOTA}


def test_a_refused_pause_gives_its_slot_back_and_an_unsettled_one_keeps_it_until_reconcile(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    unknown = "u" * 22  # SendGrid answers 400 invalid batch id: it certainly holds nothing for it
    assert _pause(ADMIN, unknown)["statusCode"] == 400
    assert _ledger() == set()

    limited, lost = _batch(TEAM_A), _batch(TEAM_A)
    sandbox_sendgrid.inject("429", times=10, paths=("/v3/user/scheduled_sends",))
    assert _pause(TEAM_A, limited)["statusCode"] == 503  # SendGrid's 429s, past the client's retries
    sandbox_sendgrid.inject("500", times=10, paths=("/v3/user/scheduled_sends",))  # applied or not: unknown
    assert _pause(TEAM_A, lost)["statusCode"] >= 500
    assert _ledger() == {limited, lost}  # counted while the outcome is not known for certain
    assert batch_store().get("parent", lost).lease_owner is None  # but neither batch is held
    sandbox_sendgrid.clear_faults()

    clock.now += 60
    load_handler("expiry_scanner")({}, _context())  # reconcile: SendGrid holds neither; the takes are given back
    assert sandbox_sendgrid.statuses() == {}
    assert _ledger() == set()


def test_a_resume_and_the_scanners_reclaim_give_the_slot_back(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    batch = _batch(TEAM_A)
    assert _pause(TEAM_A, batch)["statusCode"] == 201
    assert _ledger() == {batch}
    assert invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM_A)["statusCode"] == 204
    assert _ledger() == set()


def _context() -> Any:
    from local.events import LocalLambdaContext

    return LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)


def test_ids_left_in_a_teams_set_without_a_slot_never_count_against_its_quota(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    first, second = _batch(TEAM_A), _batch(TEAM_A)
    assert _pause(TEAM_A, first)["statusCode"] == 201
    table = boto3.resource("dynamodb").Table("batches")
    key = {"account": "#accounts", "batch_id": "parent"}
    (team,) = [name for name in table.get_item(Key=key)["Item"] if name.startswith("team:")]
    strays = {f"gone-{n}" for n in range(QUOTA - 1)}  # a set of QUOTA ids: the team's quota, were they counted
    table.update_item(
        Key=key,
        UpdateExpression="ADD #team :ids",
        ExpressionAttributeNames={"#team": team},
        ExpressionAttributeValues={":ids": strays},
    )

    assert _pause(TEAM_A, second)["statusCode"] == 201  # refused by the count, repaired, taken
    assert table.get_item(Key=key)["Item"][team] == {first, second}
    assert _ledger() == {first, second} == set(sandbox_sendgrid.statuses())


def test_a_pause_whose_answer_is_lost_after_reconcile_read_the_list_keeps_its_slot(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held
) -> None:
    registered, lost = _batch(TEAM_A), _batch(TEAM_A)
    assert _pause(TEAM_A, registered)["statusCode"] == 201  # the account is registered and reconciled
    clock.now += 16 * 60  # its reconcile is due

    def pause_lost_at_sendgrid() -> None:  # after the scanner read SendGrid's list, before it agrees the ledger
        sandbox_sendgrid.inject("drop", times=10, paths=("/v3/user/scheduled_sends",))
        assert _pause(TEAM_A, lost)["statusCode"] >= 500  # applied by SendGrid, every answer lost
        sandbox_sendgrid.clear_faults()

    while_answer_held("GET", pause_lost_at_sendgrid)
    load_handler("expiry_scanner")({}, _context())
    assert set(sandbox_sendgrid.statuses()) == {registered, lost}
    assert _ledger() == {registered, lost}  # its list predates the pause: the take stays (it was given back)

    clock.now += 16 * 60  # the next reconcile lists the pause: its row is repaired, the ledger unchanged
    load_handler("expiry_scanner")({}, _context())
    assert batch_store().get("parent", lost).status == "pause"
    assert _ledger() == {registered, lost}


def test_a_repause_whose_answer_is_lost_while_a_refused_take_reads_the_list_keeps_its_slot(
    sandbox_sendgrid: SendGridSandbox, clock, while_answer_held
) -> None:
    """Found by a review: team-a's batch is resumed outside the service (its row still says pause), team-b's pause is
    refused by the admin reserve and reads SendGrid's list, and meanwhile team-a pauses the batch again, every answer
    lost. The slot check must not give that pause's slot back: it did, and the admin's pause was then refused."""
    team_a = [_batch(TEAM_A) for _ in range(QUOTA)]
    team_b = [_batch(TEAM_B) for _ in range(QUOTA)]
    for batch in team_a + team_b[:4]:
        assert _pause(TEAM_A if batch in team_a else TEAM_B, batch)["statusCode"] == 201  # 9: the admin reserve
    resumed = team_a[0]
    outside = requests.delete(
        f"{sandbox_sendgrid.url}/v3/user/scheduled_sends/{resumed}",
        headers={"Authorization": f"Bearer {sandbox_sendgrid.api_key}"},
        timeout=5,
    )
    assert outside.status_code == 204
    clock.now += 5

    def pause_again_lost() -> None:  # after team-b's slot check read SendGrid's list, before it agrees the ledger
        sandbox_sendgrid.inject("drop", times=10, paths=("/v3/user/scheduled_sends",))
        assert _pause(TEAM_A, resumed)["statusCode"] >= 500  # applied by SendGrid, every answer lost
        sandbox_sendgrid.clear_faults()

    while_answer_held("GET", pause_again_lost)
    refused = _pause(TEAM_B, team_b[4])
    assert refused["statusCode"] == 400 and json.loads(refused["body"])["rule"] == "admin-reserve"
    assert _ledger() == set(sandbox_sendgrid.statuses()) and len(_ledger()) == 9
    assert _pause(ADMIN, _batch(ADMIN))["statusCode"] == 201  # the tenth slot stayed free for an admin
