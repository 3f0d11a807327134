"""The scanner at many accounts: work per run bounded by time and by its share of SendGrid's rate limit,
never by the number of accounts; due batches first; accounts with pauses reconciled often, idle ones
rarely, new ones at once; a run that runs out of time stops cleanly and the next continues."""

from __future__ import annotations

import json

import pytest

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters.accounts import account_registry
from scheduled_sends.domain.send_windows import EXPIRY_SECONDS
from scheduled_sends.entry import bootstrap
from tests.parts import HeldClock, Wrapping
from tests.support import SCANNER_TIMEOUT_MS, invoke, load_handler

TEAM = "arn:aws:iam::111122223333:user/team-a"
HOUR = 3600


def scan() -> dict:
    return load_handler("expiry_scanner")(
        {"source": "aws.events"}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)
    )


def _accounts(how_many: int) -> list[str]:
    registry = account_registry()
    # Customer accounts (`on-behalf-of: account-id <id>`) live where the parent does: no subuser lookups.
    names = [f"sub:account-id {i:04}" for i in range(how_many)]
    for name in names:
        registry.remember(name)
    return names


def _lists(sandbox: SendGridSandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "GET" and r.path == "/v3/user/scheduled_sends")


def test_a_run_out_of_time_stops_cleanly_and_the_next_continues_where_it_stopped(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _accounts(40)
    monkeypatch.setenv("SCAN_CONCURRENCY", "1")  # one list at a time
    real = bootstrap.services().clock
    # The run's deadline comes once SendGrid has answered a dozen lists (room for some accounts, not all).
    bootstrap.use(clock=HeldClock(lambda: 1.0 if _lists(sandbox_sendgrid) < 12 else 0.0))
    first = scan()  # no ScanIncomplete: a long run is not a failed one (it never reaches the DLQ)
    bootstrap.use(clock=real)
    assert 0 < first["reconciled"] < 40
    assert first["stopped_early"] == 1
    assert first["reconcile_due"] == 40 - first["reconciled"]
    clock.now += 60
    second = scan()
    assert second["reconciled"] == 40 - first["reconciled"]  # exactly the ones left, oldest first
    assert second["reconcile_due"] == 0 and second["stopped_early"] == 0
    assert _lists(sandbox_sendgrid) == 40  # every account listed once
    assert len(names) == 40


def test_due_batches_come_first_when_time_is_short(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    send_at = clock.now + HOUR
    created = invoke("create_batch_id", body={"send_at": send_at, "last_send_at": send_at}, caller_arn=TEAM)
    batch = json.loads(created["body"])["batch_id"]
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)
    _accounts(20)
    clock.now = send_at + EXPIRY_SECONDS - 23 * HOUR
    # Time for the due batch, none for reconcile: the run's deadline comes as the batch's warning goes out.
    left = {"seconds": 60.0}
    services = bootstrap.services()

    def publish(detail_type: str, detail: dict) -> None:
        services.events.publish(detail_type, detail)
        left["seconds"] = 0.0

    warning_ends_the_time = Wrapping(services.events)
    warning_ends_the_time.publish = publish
    bootstrap.use(clock=HeldClock(lambda: left["seconds"]), events=warning_ends_the_time)

    summary = scan()

    assert summary["warned"] == 1  # the warning went out in the first run that saw it
    assert summary["reconciled"] == 0 and summary["reconcile_due"] == 21


def test_accounts_with_pauses_are_reconciled_every_15_minutes_idle_ones_every_6_hours(
    sandbox_sendgrid: SendGridSandbox, clock
) -> None:
    created = invoke("create_batch_id", headers=[("on-behalf-of", "busy")], caller_arn=TEAM)
    batch = json.loads(created["body"])["batch_id"]
    headers = [("Content-Type", "application/json"), ("on-behalf-of", "busy")]
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, headers=headers, caller_arn=TEAM)
    _accounts(5)  # idle
    clock.now += 60
    assert scan()["reconciled"] == 6  # new accounts: at once

    clock.now += 15 * 60
    assert scan()["reconciled"] == 1  # only the account holding a slot
    clock.now += 6 * HOUR
    assert scan()["reconciled"] == 6  # and the idle ones six hours on


def test_the_scanner_keeps_its_share_of_the_rate_limit_free_for_the_teams(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _accounts(60)
    sandbox_sendgrid.clock = clock
    sandbox_sendgrid.rate_limit = 40  # per minute; the scanner leaves half (SCAN_RATE_LIMIT_RESERVE=0.5)
    monkeypatch.setenv("SCAN_CONCURRENCY", "8")
    clock.now = (clock.now // 60 + 1) * 60 + 1  # the start of the next window

    summary = scan()

    used = len(sandbox_sendgrid.api_requests)
    assert summary["sendgrid_calls"] == used
    assert 20 - 8 <= used <= 20 + 8  # half the window, give or take the calls in flight when it was reached
    assert summary["reconcile_due"] == 60 - summary["reconciled"]
    clock.now += 60  # the next window: the next run continues
    assert scan()["reconciled"] > 0


def test_a_429_makes_the_scanner_leave_sendgrid_to_the_teams_for_the_rest_of_the_run(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _accounts(30)
    monkeypatch.setenv("SCAN_CONCURRENCY", "1")
    sandbox_sendgrid.inject("429", times=1, paths=("/v3/user/scheduled_sends",))

    summary = scan()

    assert summary["rate_limited"] == 1
    assert summary["reconciled"] == 0
    assert len(sandbox_sendgrid.api_requests) == 1  # not retried, and nothing after it
