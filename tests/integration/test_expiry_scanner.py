"""The expiry scanner end to end: handler + moto (DynamoDB, EventBridge -> SQS subscriber) + SendGrid sandbox."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import requests
from pytest_httpserver import HTTPServer

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters import event_bus as bus
from scheduled_sends.adapters.accounts import account_registry
from scheduled_sends.adapters.batches_table import DueBatches, batch_store
from scheduled_sends.adapters.sendgrid.wiring import sendgrid_client
from scheduled_sends.app.scan_summary import ScanSummary
from scheduled_sends.app.scanner import Scanner
from scheduled_sends.domain import ops_view
from scheduled_sends.domain.batch import Batch
from scheduled_sends.domain.scan_plan import RECLAIM_GRACE_SECONDS
from scheduled_sends.domain.send_windows import EXPIRY_SECONDS
from scheduled_sends.entry.scheduled import ScanIncomplete
from scheduled_sends.runtime.container import Container
from scheduled_sends.runtime.settings import settings
from tests.support import SCANNER_TIMEOUT_MS, invoke, load_handler

TEAM = "arn:aws:iam::111122223333:user/team-a"
HOUR = 3600
SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def scan() -> dict:
    return load_handler("expiry_scanner")(
        SCHEDULED_EVENT, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)
    )


def _paused_batch(clock, send_in: int = HOUR, **extra) -> tuple[str, int]:
    """A batch of one send, its time stated by the owner (send_at, and last_send_at: the same)."""
    send_at = clock.now + send_in
    created = invoke("create_batch_id", body={"send_at": send_at, "last_send_at": send_at, **extra}, caller_arn=TEAM)
    batch = json.loads(created["body"])["batch_id"]
    assert invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)["statusCode"] == 201
    return batch, send_at


def _of_type(events: list[dict], detail_type: str) -> list[dict]:
    return [e["detail"] for e in events if e["detail-type"] == detail_type]


def test_a_paused_batch_gets_exactly_one_warning_per_threshold(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    batch, send_at = _paused_batch(clock)
    expires_at = send_at + EXPIRY_SECONDS
    for hours_left in (30, 24, 23, 6, 6, 5, 1, 1, 0.5):
        clock.now = int(expires_at - hours_left * HOUR)
        scan()
        scan()  # a second run at the same moment (a retry) announces nothing new

    warnings = _of_type(published_events(), bus.EXPIRY_WARNING)
    assert [w["threshold_seconds"] for w in warnings] == [24 * HOUR, 6 * HOUR, HOUR]
    assert {w["batch_id"] for w in warnings} == {batch}
    assert len({w["event_id"] for w in warnings}) == 3  # one id per warning
    assert warnings[0] | {"seconds_left": 0, "event_id": None} == {
        "account": "parent",
        "on_behalf_of": "",  # the parent account, as in the change events
        "region": "global",
        "batch_id": batch,
        "owner": TEAM,
        "status": "pause",
        "send_at": send_at,
        "last_send_at": send_at,
        "expires_at": expires_at,
        "expires_at_basis": "send_at",
        "expiry_action": None,
        "event_id": None,
        "threshold_seconds": 24 * HOUR,
        "seconds_left": 0,
        # every time also in ISO-8601 UTC
        "send_at_iso": ops_view.iso(send_at),
        "last_send_at_iso": ops_view.iso(send_at),
        "expires_at_iso": ops_view.iso(expires_at),
    }


class _OneRequestAtATime:
    """An AWS client or table whose requests are applied one at a time, each atomically, as DynamoDB and
    EventBridge apply them; moto makes no such promise for threads (a conditional write is a check, then a
    write). Runs still interleave between requests, which is where overlapping Lambda runs interleave."""

    def __init__(self, target: object, lock: threading.Lock) -> None:
        self._target, self._lock = target, lock

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def request(*args: object, **kwargs: object) -> object:
            with self._lock:
                return attribute(*args, **kwargs)

        return request


class _MeetAfterReadingTheIndex:
    """A run's store whose `due` returns only once every run has read the due index: from then on all runs
    are inside the scan at the same moment, each acting on the same rows."""

    def __init__(self, store: Any, meet: threading.Barrier) -> None:
        self._store, self._meet = store, meet

    def due(self, now: int) -> DueBatches:
        try:
            read = self._store.due(now)
        except BaseException:
            self._meet.abort()  # the other runs stop waiting for this one (BrokenBarrierError)
            raise
        self._meet.wait(timeout=30)
        return read

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def _scanner_of_its_own_container(meet: threading.Barrier, aws: threading.Lock) -> Scanner:
    """A scanner with its own clients, as in another Lambda container (built here: boto3 sessions are not
    thread-safe to create)."""
    config = settings()
    table = _OneRequestAtATime(boto3.resource("dynamodb").Table(config.batches_table_name), aws)
    store = type(batch_store())(  # a BatchStore of its own
        table, config.due_shards, config.warning_thresholds_seconds, config.expiry_action_lead_seconds
    )
    events = bus.EventBus(_OneRequestAtATime(boto3.client("events"), aws), config.event_bus_name)
    return Scanner(
        _MeetAfterReadingTheIndex(store, meet), events, sendgrid_client.factory(Container()), config, account_registry()
    )


RUNS = 3  # with 3, the others write a row at most 4 times (2 claims, 2 moves): 5 tries of change() always do


def test_overlapping_runs_publish_each_warning_once(sandbox_sendgrid: SendGridSandbox, clock, published_events) -> None:
    batches = [_paused_batch(clock)[0] for _ in range(5)]
    clock.now += EXPIRY_SECONDS - 5 * HOUR  # the 24 h and 6 h thresholds are both crossed
    meet, aws = threading.Barrier(RUNS), threading.Lock()
    scanners = [_scanner_of_its_own_container(meet, aws) for _ in range(RUNS)]

    with ThreadPoolExecutor(max_workers=RUNS) as pool:
        runs = [pool.submit(scanner.run, clock.now) for scanner in scanners]
        raised = [run.exception(timeout=60) for run in runs]
    # A run's exception fails the test: the cause first, not the other runs' broken barrier.
    causes = [e for e in raised if e is not None and not isinstance(e, threading.BrokenBarrierError)]
    if causes:
        raise causes[0]
    summaries = [run.result() for run in runs]

    assert [s.due for s in summaries] == [5] * RUNS  # every run read all five before any acted on them
    assert [s.errors for s in summaries] == [0] * RUNS  # (run() logs and counts what a batch raised)
    assert sum(s.warned for s in summaries) == 10  # every warning claimed by exactly one run
    warnings = _of_type(published_events(), bus.EXPIRY_WARNING)
    assert sorted((w["batch_id"], w["threshold_seconds"]) for w in warnings) == sorted(
        (b, t) for b in batches for t in (24 * HOUR, 6 * HOUR)
    )


def test_a_run_acting_on_rows_read_before_another_run_finished_publishes_nothing_again(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    batches = [_paused_batch(clock)[0] for _ in range(5)]
    clock.now += EXPIRY_SECONDS - 5 * HOUR  # the 24 h and 6 h thresholds are both crossed

    def scanner() -> Scanner:
        return Scanner(batch_store(), bus.event_bus(), sendgrid_client(), settings(), account_registry())

    first, stale = scanner(), batch_store().due(clock.now).batches  # run one has read the index ...
    assert scanner().run(clock.now).warned == 10  # ... run two does everything meanwhile ...
    late = ScanSummary()
    for batch in stale:  # ... and run one acts on what it read before
        first._act_on(batch, clock.now, late)

    assert (len(stale), late.warned, late.errors) == (5, 0, 0)
    warnings = _of_type(published_events(), bus.EXPIRY_WARNING)
    assert sorted((w["batch_id"], w["threshold_seconds"]) for w in warnings) == sorted(
        (b, t) for b in batches for t in (24 * HOUR, 6 * HOUR)
    )


def test_a_warning_whose_publish_failed_is_announced_by_the_next_run(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, send_at = _paused_batch(clock)
    clock.now = send_at + EXPIRY_SECONDS - 23 * HOUR

    def refuse(self, detail_type: str, detail: dict) -> None:
        raise bus.PublishFailed("EventBridge is down")

    with monkeypatch.context() as patched:
        patched.setattr(bus.EventBus, "publish", refuse)
        with pytest.raises(ScanIncomplete):
            scan()
    clock.now += 60  # the next run: Lambda retries a failed one a minute later (the schedule: every 5 minutes)
    scan()
    scan()
    warnings = _of_type(published_events(), bus.EXPIRY_WARNING)
    assert [(w["batch_id"], w["threshold_seconds"]) for w in warnings] == [(batch, 24 * HOUR)]


@pytest.mark.parametrize("action", ["resume", "cancel"])
def test_expiry_action_is_carried_out_once_shortly_before_expiry(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, action: str
) -> None:
    batch, send_at = _paused_batch(clock, expiry_action=action)
    clock.now = send_at + EXPIRY_SECONDS - 31 * 60
    scan()
    assert sandbox_sendgrid.statuses() == {batch: "pause"}  # not yet: the lead is 30 minutes
    clock.now += 60
    scan()
    scan()

    expected = {} if action == "resume" else {batch: "cancel"}
    assert sandbox_sendgrid.statuses() == expected  # a fresh cancel is not reclaimed at once (grace period)
    taken = _of_type(published_events(), bus.EXPIRY_ACTION_TAKEN)
    assert [(t["batch_id"], t["action"]) for t in taken] == [(batch, action)]
    # The event says what SendGrid holds after the action, and the pause it replaced.
    assert (taken[0]["status"], taken[0]["previous_status"]) == (expected.get(batch), "pause")
    row = batch_store().get("parent", batch)
    assert row.status == (None if action == "resume" else "cancel")
    assert row.action_taken == action


def test_a_paused_batch_past_expiry_is_marked_expired_and_its_slot_freed(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    batch, send_at = _paused_batch(clock)
    clock.now = send_at + EXPIRY_SECONDS + RECLAIM_GRACE_SECONDS
    summary = scan()

    assert summary["expired"] == 1
    assert summary["reclaimed"] == 1
    assert sandbox_sendgrid.statuses() == {}
    events = published_events()
    assert [e["batch_id"] for e in _of_type(events, bus.EXPIRED)] == [batch]
    assert [e["reason"] for e in _of_type(events, bus.SLOT_RECLAIMED)] == ["expired"]
    assert batch_store().get("parent", batch).status == "expired"
    assert scan()["due"] == 0  # it left the due index


def test_a_cancelled_batch_past_send_at_frees_its_slot(sandbox_sendgrid: SendGridSandbox, clock, published_events):
    send_at = clock.now + HOUR
    stated = {"send_at": send_at, "last_send_at": send_at}
    batch = json.loads(invoke("create_batch_id", body=stated, caller_arn=TEAM)["body"])["batch_id"]
    invoke("pause_or_cancel", body={"batch_id": batch, "status": "cancel"}, caller_arn=TEAM)
    clock.now = send_at + 60
    assert scan()["reclaimed"] == 0  # within the grace period nothing is touched
    clock.now = send_at + RECLAIM_GRACE_SECONDS
    assert scan()["reclaimed"] == 1
    assert sandbox_sendgrid.statuses() == {}
    assert batch_store().get("parent", batch).status == "discarded"
    assert [e["reason"] for e in _of_type(published_events(), bus.SLOT_RECLAIMED)] == [
        "cancelled and past the last send_at"
    ]


def test_reconcile_repairs_the_table_both_ways_and_publishes_drift(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    tracked, _ = _paused_batch(clock)
    headers = {"Authorization": f"Bearer {sandbox_sendgrid.api_key}"}
    # Outside the service: the tracked pause is removed, and another batch is paused.
    requests.delete(f"{sandbox_sendgrid.url}/v3/user/scheduled_sends/{tracked}", headers=headers)
    stray = requests.post(f"{sandbox_sendgrid.url}/v3/mail/batch", headers=headers).json()["batch_id"]
    requests.post(
        f"{sandbox_sendgrid.url}/v3/user/scheduled_sends", headers=headers, json={"batch_id": stray, "status": "cancel"}
    )

    clock.now += 60  # reconcile never repairs a row written in the second it lists SendGrid (or later)
    assert scan()["drift"] == 2
    assert scan()["drift"] == 0  # repaired: the next run finds nothing to fix

    drift = {d["batch_id"]: d for d in _of_type(published_events(), bus.DRIFT)}
    assert drift[tracked]["kind"] == "missing-at-sendgrid"
    assert drift[stray]["kind"] == "untracked-at-sendgrid"
    assert drift[stray]["sendgrid_status"] == "cancel"
    assert batch_store().get("parent", tracked).status is None
    stray_row = batch_store().get("parent", stray)
    assert (stray_row.status, stray_row.owner) == ("cancel", None)


def test_reconcile_covers_each_subuser_account(sandbox_sendgrid: SendGridSandbox, clock, published_events) -> None:
    created = invoke("create_batch_id", headers=[("on-behalf-of", "sub-a")], caller_arn=TEAM)
    assert created["statusCode"] == 201
    headers = {"Authorization": f"Bearer {sandbox_sendgrid.api_key}", "on-behalf-of": "sub-a"}
    stray = requests.post(f"{sandbox_sendgrid.url}/v3/mail/batch", headers=headers).json()["batch_id"]
    requests.post(
        f"{sandbox_sendgrid.url}/v3/user/scheduled_sends", headers=headers, json={"batch_id": stray, "status": "pause"}
    )

    scan()

    drift = _of_type(published_events(), bus.DRIFT)
    assert [(d["account"], d["on_behalf_of"], d["batch_id"]) for d in drift] == [("sub:sub-a", "sub-a", stray)]


def test_one_failing_batch_does_not_stop_the_others(
    secret_arn: str, clock, published_events, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDGRID_API_BASE_URL", httpserver.url_for("/").rstrip("/"))
    store = batch_store()
    send_at = clock.now - EXPIRY_SECONDS - RECLAIM_GRACE_SECONDS  # both are past expiry
    for batch_id in ("failing", "fine"):
        store.change(
            "parent",
            batch_id,
            lambda _c, b=batch_id: Batch("parent", b, TEAM, "pause", send_at, last_send_at=send_at),
            clock.now,
        )
    httpserver.expect_request("/v3/user/scheduled_sends/failing", method="DELETE").respond_with_data("", status=500)
    httpserver.expect_request("/v3/user/scheduled_sends/fine", method="DELETE").respond_with_data("", status=204)
    httpserver.expect_request("/v3/user/scheduled_sends", method="GET").respond_with_json([])  # reconcile

    with pytest.raises(ScanIncomplete, match="1 batches"):
        scan()

    assert {e["batch_id"] for e in _of_type(published_events(), bus.SLOT_RECLAIMED)} == {"fine"}
    assert store.get("parent", "fine").status == "expired"


def test_the_scanners_reads_grow_with_due_rows_not_with_the_table(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    table = boto3.resource("dynamodb").Table("batches")
    far = clock.now + 48 * HOUR
    with table.batch_writer() as writer:
        for i in range(10_000):  # tracked, not due: a paused batch whose first warning is two days away
            writer.put_item(
                Item={
                    "account": "parent",
                    "batch_id": f"later-{i}",
                    "owner": TEAM,
                    "status": "pause",
                    "send_at": far,
                    "version": 1,
                    "due_shard": f"due#{i % 8}",
                    "due_at": far + 100,
                }
            )
        for i in range(2_000):  # known but not watched at all: no due attributes
            writer.put_item(Item={"account": "parent", "batch_id": f"idle-{i}", "owner": TEAM, "version": 1})
        for i in range(100):  # due now: paused, expiring within the hour, every warning still to publish
            writer.put_item(
                Item={
                    "account": "parent",
                    "batch_id": f"due-{i}",
                    "owner": TEAM,
                    "status": "pause",
                    "send_at": clock.now - 71 * HOUR,
                    "last_send_at": clock.now - 71 * HOUR,
                    "version": 1,
                    "due_shard": f"due#{i % 8}",
                    "due_at": clock.now - 100,
                }
            )
        due = {f"due-{i}" for i in range(100)}  # the account's slot ledger counts them, as it would
        writer.put_item(Item={"account": "#accounts", "batch_id": "parent", "held": due, f"team:{TEAM}": due})
    summary = scan()

    assert summary["due"] == 100
    assert summary["warned"] == 300  # each row's three warnings (24 h, 6 h, 1 h before expiry)
    assert summary["items_read"] == 100  # what the due index read: the due rows, not the 12,100 in the table
    assert scan()["items_read"] == 0  # and once handled they left the index


def test_overlapping_runs_expire_and_free_each_slot_once(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    paused, send_at = _paused_batch(clock)
    stated = {"send_at": send_at, "last_send_at": send_at}
    cancelled = json.loads(invoke("create_batch_id", body=stated, caller_arn=TEAM)["body"])["batch_id"]
    invoke("pause_or_cancel", body={"batch_id": cancelled, "status": "cancel"}, caller_arn=TEAM)
    clock.now = send_at + EXPIRY_SECONDS + RECLAIM_GRACE_SECONDS
    first = Scanner(batch_store(), bus.event_bus(), sendgrid_client(), settings(), account_registry())
    stale = batch_store().due(clock.now).batches  # run one reads the index ...
    second = Scanner(batch_store(), bus.event_bus(), sendgrid_client(), settings(), account_registry()).run(
        clock.now
    )  # run two acts
    late = ScanSummary()
    for batch in stale:  # ... then run one acts on what it had read
        first._act_on(batch, clock.now, late)

    assert (second.expired, second.reclaimed) == (1, 2)
    assert (late.expired, late.reclaimed, late.errors) == (0, 0, 0)
    events = published_events()
    assert [e["batch_id"] for e in _of_type(events, bus.EXPIRED)] == [paused]
    assert sorted(e["batch_id"] for e in _of_type(events, bus.SLOT_RECLAIMED)) == sorted([paused, cancelled])
    assert sandbox_sendgrid.statuses() == {}


# -- the order of a run's work while SendGrid is slow ----------------------------------------------------------------


def _scan_within(seconds: float) -> dict:
    """A run whose deadline is `seconds` away (a short run stands for the 270 s one with 10 s read timeouts)."""
    remaining_ms = int(seconds * 2 * 1000)  # the entry point keeps half of a short remaining time in reserve
    return load_handler("expiry_scanner")(
        SCHEDULED_EVENT, LocalLambdaContext("expiry_scanner", remaining_ms=remaining_ms)
    )


def _ids_in_shards(*shards: int) -> list[str]:
    """A batch id hashing to each of `shards`, in that order (rows are placed in the due index by a hash)."""
    store, found = batch_store(), []
    candidates = (f"batch-{n}" for n in range(10_000))
    for shard in shards:
        found.append(next(b for b in candidates if store._shard(Batch("parent", b, TEAM)) == f"due#{shard}"))
    return found


def _row(batch_id: str, now: int, **fields: Any) -> None:
    batch_store().change("parent", batch_id, lambda _current: Batch("parent", batch_id, TEAM, **fields), now)


def _reclaimable_cancel(batch_id: str, now: int, sent_ago: int) -> None:
    sent = now - sent_ago
    _row(batch_id, now, status="cancel", send_at=sent, last_send_at=sent, status_at=sent - HOUR, held_since=sent - HOUR)


def _due_at(batch_id: str) -> int:
    item = boto3.resource("dynamodb").Table("batches").get_item(Key={"account": "parent", "batch_id": batch_id})
    return int(item["Item"]["due_at"])


def test_the_due_index_is_read_oldest_first_across_shards(sandbox_sendgrid: SendGridSandbox, clock) -> None:
    ids = _ids_in_shards(0, 3, 5, 7)
    for age, batch_id in enumerate(ids):  # the higher the shard, the longer the row has waited
        _reclaimable_cancel(batch_id, clock.now, sent_ago=HOUR + age * 60)

    assert [b.batch_id for b in batch_store().due(clock.now).batches] == list(reversed(ids))


def test_a_warning_is_published_first_while_sendgrid_hangs_on_older_work(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    """Reclaims and an expiry action that wait on SendGrid, due longer and in lower shards, do not use up the run
    before a warning, which needs no SendGrid call."""
    *cancels, acting, paused = _ids_in_shards(0, 1, 2, 3, 7)
    for batch_id in cancels:
        _reclaimable_cancel(batch_id, clock.now, sent_ago=3 * HOUR)
    # Its action (lead 30 minutes) has been due for 10 minutes; every warning is announced already.
    acting_send_at = clock.now - EXPIRY_SECONDS + 20 * 60
    _row(
        acting,
        clock.now,
        status="pause",
        send_at=acting_send_at,
        expiry_action="cancel",
        warned=(HOUR, 6 * HOUR, 24 * HOUR),
    )
    _row(paused, clock.now, status="pause", send_at=clock.now - 49 * HOUR)  # 23 h left: the 24 h warning is due
    sandbox_sendgrid.inject("slow", times=10_000, delay_seconds=2.0)  # SendGrid hangs (read timeout 0.5 s here)

    with pytest.raises(ScanIncomplete):
        _scan_within(1.5)

    warnings = _of_type(published_events(), bus.EXPIRY_WARNING)
    assert [(w["batch_id"], w["threshold_seconds"]) for w in warnings] == [(paused, 24 * HOUR)]


def test_work_that_failed_waits_behind_the_rows_due_before_it(
    sandbox_sendgrid: SendGridSandbox, clock, published_events
) -> None:
    """A row whose SendGrid call keeps failing is not due again at its old time, where it would come first in
    every run and use it up: the next run first does what was waiting behind it."""
    failing, waiting = _ids_in_shards(0, 4)
    _reclaimable_cancel(failing, clock.now, sent_ago=3 * HOUR)
    _reclaimable_cancel(waiting, clock.now, sent_ago=2 * HOUR)
    sandbox_sendgrid.inject("slow", times=10_000, delay_seconds=2.0, paths=(f"/v3/user/scheduled_sends/{failing}",))
    first_run = clock.now

    with pytest.raises(ScanIncomplete):
        _scan_within(1.5)  # the failing row uses up the run
    assert _due_at(waiting) < first_run < _due_at(failing) <= first_run + 60  # behind, yet due in the next run
    assert batch_store().get("parent", waiting).status == "cancel"  # not reached

    clock.now += 5 * 60
    with pytest.raises(ScanIncomplete):
        _scan_within(1.5)

    assert batch_store().get("parent", waiting).status == "discarded"
    assert [e["batch_id"] for e in _of_type(published_events(), bus.SLOT_RECLAIMED)] == [waiting]
