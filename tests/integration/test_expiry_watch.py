"""The expiry watch's promises, each shown failing the way it used to: batches without send_at are watched,
a run that dies is taken over (the action reaches SendGrid once), reclaim never deletes on a guess, reconcile
publishes only repairs it made, no account goes unwatched, and create never hands out an unowned id."""

from __future__ import annotations

import json
import time

import pytest
import requests

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters import event_bus as bus
from scheduled_sends.adapters.batches_table import batch_store
from scheduled_sends.domain.send_windows import CHANGE_WINDOW_SECONDS, EXPIRY_SECONDS
from scheduled_sends.entry import bootstrap
from tests.parts import DiesAt
from tests.support import SCANNER_TIMEOUT_MS, error_of, invoke, load_handler

TEAM = "arn:aws:iam::111122223333:user/team-a"
OTHER_TEAM = "arn:aws:iam::111122223333:user/team-b"
ADMIN = "arn:aws:iam::111122223333:role/ops"
HOUR = 3600
LEASE = 600  # SCAN_LEASE_SECONDS' default


class Crash(BaseException):
    """The function dies here (a timeout, an out-of-memory kill): nothing after it runs, nothing catches it."""


def scan() -> dict:
    return load_handler("expiry_scanner")(
        {"source": "aws.events"}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)
    )


def _create(**body) -> str:
    created = invoke("create_batch_id", body=body or None, caller_arn=TEAM)
    assert created["statusCode"] == 201, created
    return json.loads(created["body"])["batch_id"]


def _pause(batch: str, status: str = "pause", **extra) -> dict:
    answer = invoke("pause_or_cancel", body={"batch_id": batch, "status": status, **extra}, caller_arn=TEAM)
    assert answer["statusCode"] == 201, answer
    return json.loads(answer["body"])


def _of_type(events: list[dict], detail_type: str) -> list[dict]:
    return [e["detail"] for e in events if e["detail-type"] == detail_type]


def _mail(sandbox: SendGridSandbox, batch: str, send_at: int) -> None:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    sent = requests.post(f"{sandbox.url}/v3/mail/send", json={"batch_id": batch, "send_at": send_at}, headers=headers)
    assert sent.status_code == 202


@pytest.fixture
def timed_sandbox(sandbox_sendgrid: SendGridSandbox, clock) -> SendGridSandbox:
    """The sandbox on the service's clock: mail is delivered, held or discarded as the tests move time."""
    sandbox_sendgrid.clock = clock
    return sandbox_sendgrid


def test_a_batch_paused_without_send_at_is_warned_against_its_earliest_possible_expiry(
    timed_sandbox: SendGridSandbox, clock, published_events
) -> None:
    batch = _create()
    _mail(timed_sandbox, batch, clock.now + 20 * 60)
    paused_at = clock.now
    answer = _pause(batch)
    earliest = paused_at - CHANGE_WINDOW_SECONDS + EXPIRY_SECONDS
    assert (answer["expires_at"], answer["expires_at_basis"]) == (earliest, "earliest_possible")
    expected_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(earliest))
    assert answer["expires_at_iso"] == expected_iso  # every time also in ISO-8601 UTC
    assert "send_at_iso" not in answer  # no send_at was stated: no time to show

    for hours in range(1, 72):  # the scanner's schedule, hour by hour
        clock.now = paused_at + hours * HOUR
        scan()

    warnings = _of_type(published_events(), bus.EXPIRY_WARNING)
    assert [w["threshold_seconds"] for w in warnings] == [24 * HOUR, 6 * HOUR, HOUR]
    assert {(w["expires_at"], w["expires_at_basis"]) for w in warnings} == {(earliest, "earliest_possible")}
    assert clock.now < earliest  # every warning came before SendGrid could possibly discard the mail
    got = json.loads(invoke("get_scheduled_send", batch_id=batch, caller_arn=TEAM)["body"])
    assert got[0]["expires_at_basis"] == "earliest_possible"
    assert got[0]["expires_at_iso"] == expected_iso


@pytest.mark.parametrize("dies", ["before SendGrid is called", "after SendGrid applied the action"])
def test_a_run_that_dies_during_an_expiry_action_is_taken_over_and_sendgrid_sees_the_action_once(
    timed_sandbox: SendGridSandbox, clock, published_events, monkeypatch: pytest.MonkeyPatch, dies: str
) -> None:
    send_at = clock.now + HOUR
    batch = _create(send_at=send_at, expiry_action="resume")
    _mail(timed_sandbox, batch, send_at)
    _pause(batch)
    services = bootstrap.services()

    def the_action(name: str, args: tuple, kwargs: dict) -> bool:  # the expiry action's DELETE of the batch
        return name == "call" and args[0] == "DELETE" and args[1].endswith(batch)

    dying = DiesAt(services.sendgrid, the_action, Crash(), after=dies == "after SendGrid applied the action")
    clock.now = send_at + EXPIRY_SECONDS - 20 * 60  # inside the 30-minute action lead
    bootstrap.use(sendgrid=dying)
    with pytest.raises(Crash):
        scan()
    bootstrap.use(sendgrid=services.sendgrid)
    clock.now += 60
    scan()  # the lease of the dead run still holds: nobody touches the batch
    assert not _of_type(published_events(), bus.EXPIRY_ACTION_TAKEN)
    clock.now += LEASE
    scan()  # the lease ended: this run takes the batch over

    deletes = [r for r in timed_sandbox.requests if r.method == "DELETE" and r.path.endswith(batch)]
    assert len(deletes) == 1  # the action reached SendGrid exactly once
    assert timed_sandbox.statuses() == {}
    taken = _of_type(published_events(), bus.EXPIRY_ACTION_TAKEN)
    assert [(t["batch_id"], t["action"]) for t in taken] == [(batch, "resume")]
    assert [m.fate for m in timed_sandbox.mails()] == ["delivered"]  # resumed before it could expire
    row = batch_store().get("parent", batch)
    assert (row.status, row.action_taken, row.lease_owner) == (None, "resume", None)


def test_a_warning_published_by_a_run_that_died_is_published_again_with_the_same_event_id(
    timed_sandbox: SendGridSandbox, clock, published_events, monkeypatch: pytest.MonkeyPatch
) -> None:
    send_at = clock.now + HOUR
    batch = _create(send_at=send_at)
    _pause(batch)
    services = bootstrap.services()
    leased: list[str] = []

    def the_first_write_under_the_lease(name: str, args: tuple, kwargs: dict) -> bool:
        if name == "take_lease":
            leased.append(args[0].batch_id)
        return name == "change" and bool(leased)  # the warning has been published: the row is not yet written

    clock.now = send_at + EXPIRY_SECONDS - 23 * HOUR
    bootstrap.use(store=DiesAt(services.store, the_first_write_under_the_lease, Crash(), after=False))
    with pytest.raises(Crash):
        scan()
    assert leased == [batch]
    bootstrap.use(store=services.store)  # the real store is back for the takeover
    clock.now += LEASE
    scan()
    clock.now += HOUR
    scan()

    warnings = _of_type(published_events(), bus.EXPIRY_WARNING)
    assert [w["threshold_seconds"] for w in warnings] == [24 * HOUR, 24 * HOUR]  # at least once ...
    assert len({w["event_id"] for w in warnings}) == 1  # ... and one id, so a subscriber keeps one


def test_a_cancel_is_never_reclaimed_on_the_first_send_at_while_a_later_send_is_held(
    timed_sandbox: SendGridSandbox, clock, published_events
) -> None:
    first, later = clock.now + HOUR, clock.now + 48 * HOUR
    guessed = _create(send_at=first)  # the owner stated the first send only
    stated = _create(send_at=first, last_send_at=later)  # the owner stated both
    for batch in (guessed, stated):
        _mail(timed_sandbox, batch, first)
        _mail(timed_sandbox, batch, later)
        _pause(batch, "cancel")

    for _ in range(50):
        clock.now += HOUR
        scan()

    fates = {(m.batch_id, m.send_at): m.fate for m in timed_sandbox.mails()}
    assert set(fates.values()) == {"discarded"}  # no cancelled mail went out, early or late
    assert timed_sandbox.statuses() == {guessed: "cancel"}  # the stated one was freed, after its last send
    reclaimed = _of_type(published_events(), bus.SLOT_RECLAIMED)
    assert [r["batch_id"] for r in reclaimed] == [stated]
    assert batch_store().get("parent", stated).status == "discarded"


def test_a_repair_reconcile_did_not_make_publishes_no_drift(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _create()
    _pause(batch)
    requests.delete(  # removed outside the service ...
        f"{sandbox_sendgrid.url}/v3/user/scheduled_sends/{batch}",
        headers={"Authorization": f"Bearer {sandbox_sendgrid.api_key}"},
    )
    store = batch_store()
    read_before = store.active("parent")
    invoke("update_scheduled_send", batch_id=batch, body={"status": "pause"}, caller_arn=TEAM)  # 404 at SendGrid
    store.change("parent", batch, lambda row: row, clock.now)  # ... and the row moved on after reconcile read it
    monkeypatch.setattr(type(store), "active", lambda self, account: read_before)
    clock.now += 60

    assert scan()["drift"] == 0  # the row changed since it was read: no repair, so no drift event
    assert _of_type(published_events(), bus.DRIFT) == []
    assert store.get("parent", batch).status == "pause"  # left for the next run, which reads it afresh


def test_lost_resumes_in_an_account_reached_only_by_claims_never_block_a_pause(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch, published_events
) -> None:
    monkeypatch.setenv("UNKNOWN_BATCH_POLICY", "claim")
    monkeypatch.setenv("ADMIN_PRINCIPALS", ADMIN)
    headers = {"Authorization": f"Bearer {sandbox_sendgrid.api_key}", "on-behalf-of": "acme"}
    batches = [
        requests.post(f"{sandbox_sendgrid.url}/v3/mail/batch", headers=headers).json()["batch_id"] for _ in range(11)
    ]
    as_acme = [("Content-Type", "application/json"), ("on-behalf-of", "acme")]
    # Claimed by their first pause through the service (never created through it): 8 by one team (its quota),
    # one by another, the last by an admin (the slot kept for admins).
    for batch, who in zip(batches[:10], [TEAM] * 8 + [OTHER_TEAM, ADMIN], strict=True):
        paused = invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, headers=as_acme, caller_arn=who)
        assert paused["statusCode"] == 201, paused
    sandbox_sendgrid.inject("drop", times=1000, paths=("/v3/user/scheduled_sends/",))
    for batch in batches[:10]:  # an admin resumes them all; SendGrid applies each, every answer is lost
        lost = invoke("resume_scheduled_send", batch_id=batch, headers=as_acme, caller_arn=ADMIN)
        assert lost["statusCode"] >= 500
    sandbox_sendgrid.clear_faults()
    assert sandbox_sendgrid.statuses("acme") == {}
    assert len(batch_store().active("sub:acme")) == 10  # ten phantom slots in the table
    clock.now += 60

    body = {"batch_id": batches[10], "status": "pause"}
    eleventh = invoke("pause_or_cancel", body=body, headers=as_acme, caller_arn=TEAM)

    assert eleventh["statusCode"] == 201, eleventh  # SendGrid's own list was asked before refusing, and disagreed
    assert batch_store().slots.read("sub:acme").holders.keys() == {batches[10]}  # the ledger follows SendGrid's list
    clock.now += 60
    scan()  # and the account is watched: its reconcile, brought forward, repairs the rows (each a Drift event)
    assert [b.batch_id for b in batch_store().active("sub:acme")] == [batches[10]]
    drifts = [e for e in published_events() if e["detail-type"] == "Scheduled Send Drift"]
    assert sorted(e["detail"]["batch_id"] for e in drifts) == sorted(batches[:10])


def test_create_answers_503_and_hands_out_nothing_when_the_ownership_record_cannot_be_written(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNKNOWN_BATCH_POLICY", "refuse")
    store = batch_store()
    attempts = []

    def failing(*args, **kwargs):
        attempts.append(args)
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(type(store), "change", failing)
    answer = invoke("create_batch_id", caller_arn=TEAM)

    assert answer["statusCode"] == 503
    assert "not handed out" in error_of(answer)["message"]
    assert "batch_id" not in json.loads(answer["body"])
    assert len(attempts) == 3  # retried within the deadline first


def _pause_outside_the_service(sandbox: SendGridSandbox, batch: str) -> None:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    paused = requests.post(
        f"{sandbox.url}/v3/user/scheduled_sends", json={"batch_id": batch, "status": "pause"}, headers=headers
    )
    assert paused.status_code == 201


def test_a_pause_found_by_reconcile_is_watched_from_the_accounts_previous_list_and_warned_before_it_expires(
    timed_sandbox: SendGridSandbox, clock, published_events
) -> None:
    batch = _create()
    scan()  # the account's first reconcile: nothing held, so it is idle, next reconciled in 6 hours
    previous_list = clock.now
    clock.now += 60
    send_at = clock.now + 60
    _mail(timed_sandbox, batch, send_at)
    _pause_outside_the_service(timed_sandbox, batch)  # (or paused through us, with both table writes lost)
    real_expiry = send_at + EXPIRY_SECONDS

    clock.now = previous_list + 6 * HOUR  # the next reconcile finds it
    assert scan()["drift"] == 1
    row = batch_store().get("parent", batch)
    assert row.status == "pause"
    assert row.held_since == previous_list  # not the moment reconcile happened to look
    assert row.expires_at <= real_expiry
    for hours in range(7, 72):  # the scanner's schedule, hour by hour, until SendGrid discards the mail
        clock.now = previous_list + hours * HOUR
        scan()

    warned = [(w["threshold_seconds"], w["seconds_left"]) for w in _of_type(published_events(), bus.EXPIRY_WARNING)]
    assert [threshold for threshold, _ in warned] == [24 * HOUR, 6 * HOUR, HOUR]
    assert all(left > 0 for _, left in warned)
    assert [(m.fate, m.held) for m in timed_sandbox.mails()] == [("scheduled", True)]  # all came while it was held


def test_a_pause_found_in_an_accounts_first_list_may_be_72_hours_old_so_every_warning_is_due_at_once(
    timed_sandbox: SendGridSandbox, clock, published_events
) -> None:
    batch = _create()  # the account is registered (due at once), but no scan has listed it yet
    _mail(timed_sandbox, batch, clock.now + 60)
    _pause_outside_the_service(timed_sandbox, batch)
    clock.now += 70 * HOUR  # the mail has two hours left when the account is first listed

    assert scan()["drift"] == 1
    assert batch_store().get("parent", batch).expires_at <= clock.now  # it may expire at any moment
    clock.now += 300
    scan()
    warned = [w["threshold_seconds"] for w in _of_type(published_events(), bus.EXPIRY_WARNING)]
    assert sorted(warned) == [HOUR, 6 * HOUR, 24 * HOUR]  # at once: before the mail expires in two hours
    assert [(m.fate, m.held) for m in timed_sandbox.mails()] == [("scheduled", True)]
