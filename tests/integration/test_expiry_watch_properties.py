"""A stateful property test of the expiry watch: the service and the time-aware SendGrid sandbox, driven by
random creates (with and without a known send_at), mails, pauses, cancels, PATCHes, resumes, scanner runs
with crashes injected between lease, SendGrid call, publish and table write, operations landing in the middle
of a reconcile, and clock moves of up to 80 hours (the scanner then runs at every due time, as its schedule
would). After every step:

1. no mail of a batch whose team had cancelled it when its send_at came (at least 10 minutes before, as
   SendGrid guarantees) is ever delivered;
2. no paused mail expires without every warning of its episode published before;
3. each expiry action reaches SendGrid at most once per episode, and no mail expires while an expiry action
   was set for it;
4. after a scan without faults that reconciled the account, the table agrees with SendGrid (rows under a
   dead run's lease excepted);
5. every Drift event is a repair that happened: the row was written as SendGrid had it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters import event_bus as bus
from scheduled_sends.domain import ownership, scan_plan
from scheduled_sends.domain.send_windows import CHANGE_WINDOW_SECONDS, EXPIRY_SECONDS
from scheduled_sends.entry import bootstrap
from tests.parts import DiesAt, Wrapping, using
from tests.support import SCANNER_TIMEOUT_MS, invoke, load_handler, start_example

TEAM = "arn:aws:iam::111122223333:user/team-a"
HOUR = 3600
THRESHOLDS = (24 * HOUR, 6 * HOUR, HOUR)
START = 1_795_000_000
CRASH_POINTS = (None, "lease", "before-sendgrid", "after-sendgrid", "after-publish", "after-write")
STEPS_EXPLORED: list[int] = []
SEEN: list[tuple[list[str], list[str], int]] = []  # per example: mail fates, event kinds, actions sent


class Crash(BaseException):
    """The scanner's function dies here: nothing after it runs and nothing catches it."""


@dataclass
class Intent:
    """What the owning team asked of a batch, as SendGrid confirmed it: (time, status) in order."""

    changes: list[tuple[int, str | None]] = field(default_factory=list)
    expiry_action: str | None = None

    def cancelled_in_time_for(self, send_at: int) -> bool:
        """Cancelled at least 10 minutes before `send_at` and left so until then: what SendGrid guarantees."""
        window_opens = send_at - CHANGE_WINDOW_SECONDS
        unchanged = all(not (window_opens < at <= send_at) for at, _ in self.changes)
        return self.status_at(window_opens) == "cancel" and unchanged

    def status_at(self, when: int) -> str | None:
        status = None
        for at, value in self.changes:
            if at <= when:
                status = value
        return status

    def episode_start(self, when: int) -> int | None:
        """When the batch last became held (paused or cancelled from neither) at or before `when`."""
        start, status = None, None
        for at, value in self.changes:
            if at > when:
                break
            if value is not None and status is None:
                start = at
            if value is None:
                start = None
            status = value
        return start


class ExpiryWatch(RuleBasedStateMachine):
    """One example = a fresh table, bus queue and sandbox (see the test below for the fixtures)."""

    env: dict[str, Any]  # set by the test: sandbox, clock, drain

    batches = Bundle("batches")

    def __init__(self) -> None:
        super().__init__()
        self.sandbox: SendGridSandbox = self.env["sandbox"]
        self.clock = self.env["clock"]
        start_example(self.env, START)
        self.intents: dict[str, Intent] = defaultdict(Intent)
        self.events: list[tuple[int, dict]] = []  # (clock when drained, event)
        self.actions_sent: dict[tuple[str, int | None], int] = defaultdict(int)
        self.clean_scan = False
        self.steps = 0

    # -- the team's side ---------------------------------------------------------------------------
    @initialize(target=batches)
    def first_batch(self) -> str:
        return self._new_batch(send_at_known=True, offset=2 * HOUR, action=None)

    @rule(
        target=batches,
        send_at_known=st.booleans(),
        offset=st.one_of(st.sampled_from([20 * 60, HOUR, 24 * HOUR]), st.integers(15 * 60, 72 * HOUR)),
        action=st.sampled_from([None, "resume", "cancel"]),
    )
    def create(self, send_at_known: bool, offset: int, action: str | None) -> str:
        return self._new_batch(send_at_known, offset, action)

    @rule(
        target=batches,
        send_at_known=st.booleans(),
        offset=st.one_of(st.sampled_from([20 * 60, HOUR, 24 * HOUR]), st.integers(15 * 60, 72 * HOUR)),
        action=st.sampled_from([None, "resume", "cancel"]),
        status=st.sampled_from(["pause", "pause", "cancel"]),
    )
    def create_and_hold(self, send_at_known: bool, offset: int, action: str | None, status: str) -> str:
        """The common case: a team creates a batch, schedules its mail and pauses (or cancels) it at once."""
        batch = self._new_batch(send_at_known, offset, action)
        self.pause_or_cancel(batch, status)
        return batch

    def _new_batch(self, send_at_known: bool, offset: int, action: str | None) -> str:
        send_at = self.clock.now + offset
        body: dict[str, Any] = {"expiry_action": action}
        if send_at_known:
            body |= {"send_at": send_at, "last_send_at": send_at}  # a batch of one send, stated in full
        created = invoke("create_batch_id", body=body, caller_arn=TEAM)
        assert created["statusCode"] == 201, created
        batch = json.loads(created["body"])["batch_id"]
        headers = {"Authorization": f"Bearer {self.sandbox.api_key}"}
        mailed = requests.post(
            f"{self.sandbox.url}/v3/mail/send", json={"batch_id": batch, "send_at": send_at}, headers=headers, timeout=5
        )
        assert mailed.status_code == 202
        self.intents[batch].expiry_action = action
        self._step()
        return batch

    @rule(batch=batches, status=st.sampled_from(["pause", "cancel"]))
    def pause_or_cancel(self, batch: str, status: str) -> None:
        if self.sandbox.statuses().get(batch) is None:
            answer = invoke("pause_or_cancel", body={"batch_id": batch, "status": status}, caller_arn=TEAM)
            ok = answer["statusCode"] == 201
        else:
            answer = invoke("update_scheduled_send", batch_id=batch, body={"status": status}, caller_arn=TEAM)
            ok = answer["statusCode"] == 204
        assert answer["statusCode"] < 500, answer
        if ok:
            self.intents[batch].changes.append((self.clock.now, status))
        self._step()

    @rule(batch=batches)
    def resume(self, batch: str) -> None:
        answer = invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM)
        assert answer["statusCode"] in (204, 404), answer
        if answer["statusCode"] == 204:
            self.intents[batch].changes.append((self.clock.now, None))
        self._step()

    @rule(batch=batches)
    def resume_outside_the_service(self, batch: str) -> None:
        """A team removes a pause or cancel at SendGrid directly (the table does not know): drift."""
        headers = {"Authorization": f"Bearer {self.sandbox.api_key}"}
        removed = requests.delete(f"{self.sandbox.url}/v3/user/scheduled_sends/{batch}", headers=headers, timeout=5)
        if removed.status_code == 204:
            self.intents[batch].changes.append((self.clock.now, None))
        self._step()

    # -- the scanner's side ------------------------------------------------------------------------
    @rule(crash=st.sampled_from(CRASH_POINTS))
    def scan(self, crash: str | None) -> None:
        self.clock.now += 1  # a scheduled run comes after the requests of this second
        self._scan(crash)
        self._step(team=False)

    @rule(batch=batches, resume=st.booleans())
    def scan_with_an_operation_during_reconcile(self, batch: str, resume: bool) -> None:
        """A team's change lands after reconcile read the table and listed SendGrid, before it repairs."""
        self.clock.now += 1
        machine = self
        landed: list[bool] = []
        services = bootstrap.services()

        def listed_then_the_team_acts(method: str, path: str, **options: Any) -> Any:
            answer = services.sendgrid.call(method, path, **options)
            if not landed and method == "GET" and path == "/v3/user/scheduled_sends":  # reconcile's list
                landed.append(True)
                if resume:
                    machine.resume(batch)
                else:
                    machine.pause_or_cancel(batch, "pause")
            return answer

        sendgrid = Wrapping(services.sendgrid)
        sendgrid.call = listed_then_the_team_acts
        with using(sendgrid=sendgrid):
            self._scan(None, clean=False)
        self._step(team=False)

    @rule(batch=batches, status=st.sampled_from(["pause", "cancel"]))
    def scan_while_a_teams_change_holds_the_batch(self, batch: str, status: str) -> None:
        """A team's change is applied at SendGrid and, before its answer reaches the operation (the change still
        holds the batch's lease), a whole scanner run happens."""
        self.clock.now += 1
        machine = self
        ran: list[bool] = []
        services = bootstrap.services()

        def applied_then_a_scan(method: str, path: str, **options: Any) -> Any:
            answer = services.sendgrid.call(method, path, **options)
            if not ran and method in ("POST", "PATCH") and path.startswith("/v3/user/scheduled_sends"):
                ran.append(True)
                machine._scan(None, clean=False)
            return answer

        sendgrid = Wrapping(services.sendgrid)
        sendgrid.call = applied_then_a_scan
        with using(sendgrid=sendgrid):
            self.pause_or_cancel(batch, status)

    @rule(
        seconds=st.one_of(
            st.sampled_from([HOUR, 6 * HOUR, 24 * HOUR, 48 * HOUR, 71 * HOUR, 73 * HOUR, 80 * HOUR]),
            st.integers(min_value=60, max_value=80 * HOUR),
        )
    )
    def advance(self, seconds: int) -> None:
        """Time passes; the scanner runs whenever something is due (its 5-minute schedule would)."""
        target = self.clock.now + seconds
        for _ in range(60):
            due = self._next_due()
            if due is None or due > target:
                break
            self.clock.now = max(self.clock.now + 1, due)
            self._scan(None)
        self.clock.now = max(self.clock.now, target)
        self._scan(None)
        self._step(team=False)

    @rule(hours=st.sampled_from([23, 47, 66, 71, 72, 75]))
    def wait_hours(self, hours: int) -> None:
        """Long waits, as often as short ones: where warnings, actions and expiry happen."""
        self.advance(hours * HOUR)

    def _next_due(self) -> int | None:
        items = boto3.resource("dynamodb").Table("batches").scan()["Items"]
        # Batches only: the accounts registry's reconcile times sit in the same index (every 15 minutes).
        times = [int(item["due_at"]) for item in items if "due_at" in item and item["account"] != "#accounts"]
        return min(times) if times else None

    def _scan(self, crash: str | None, clean: bool = True) -> None:
        with self._counting_actions(), _crashing_at(crash):
            try:
                summary = load_handler("expiry_scanner")(
                    {"source": "aws.events"}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)
                )
                # The table agrees with SendGrid once a fault-free run has reconciled the account (every
                # account is reconciled on its own schedule, not on every run).
                self.clean_scan = clean and crash is None and summary["reconciled"] > 0
            except Crash:
                self.clean_scan = False
            except Exception:  # ScanIncomplete: a batch failed; the next run retries it
                self.clean_scan = False
        self.events.extend((self.clock.now, event) for event in self.env["drain"]())

    @contextmanager
    def _counting_actions(self) -> Iterator[None]:
        """Every expiry action the scanner sends to SendGrid, per batch and episode."""
        services, counts = bootstrap.services(), self.actions_sent
        scanning = threading.get_ident()  # the run's own thread: a team's call during reconcile is not counted

        def call(method: str, path: str, **options: Any) -> Any:
            row = _expiry_action_of(services, method, path, options)
            if row is not None and threading.get_ident() == scanning:
                counts[(row.batch_id, row.held_since)] += 1
            return services.sendgrid.call(method, path, **options)

        sendgrid = Wrapping(services.sendgrid)
        sendgrid.call = call
        with using(sendgrid=sendgrid):
            yield

    def _step(self, team: bool = True) -> None:
        """Count a step; a team's change since the last scan means the table may lag SendGrid until the next."""
        self.steps += 1
        if team:
            self.clean_scan = False

    def teardown(self) -> None:
        STEPS_EXPLORED.append(self.steps)
        fates = [mail.fate for mail in self.sandbox.mails()]
        kinds = [event["detail-type"].removeprefix("Scheduled Send ") for _, event in self.events]
        SEEN.append((fates, kinds, sum(self.actions_sent.values())))

    # -- the invariants ----------------------------------------------------------------------------
    @invariant()
    def no_mail_the_team_cancelled_is_delivered(self) -> None:
        for mail in self.sandbox.mails():
            if mail.fate == "delivered":
                intent = self.intents[mail.batch_id]
                assert not intent.cancelled_in_time_for(mail.send_at), (mail, intent)

    @invariant()
    def no_paused_mail_expires_unwarned_or_while_an_action_was_set(self) -> None:
        for mail in self.sandbox.mails():
            if mail.fate != "expired":
                continue
            intent = self.intents[mail.batch_id]
            started = intent.episode_start(mail.send_at) or 0
            warned = {
                event["detail"]["threshold_seconds"]
                for at, event in self.events
                if event["detail-type"] == bus.EXPIRY_WARNING
                and event["detail"]["batch_id"] == mail.batch_id
                and started <= at < mail.send_at + EXPIRY_SECONDS
            }
            assert warned == set(THRESHOLDS), (mail, warned, intent)
            assert intent.expiry_action is None, (mail, intent)  # the action should have come first

    @invariant()
    def each_expiry_action_reaches_sendgrid_at_most_once(self) -> None:
        assert all(count <= 1 for count in self.actions_sent.values()), dict(self.actions_sent)

    @invariant()
    def after_a_clean_scan_the_table_agrees_with_sendgrid(self) -> None:
        if not self.clean_scan:
            return
        items = boto3.resource("dynamodb").Table("batches").scan()["Items"]
        recorded = {
            item["batch_id"]: item["status"]
            for item in items
            if item.get("status") in ("pause", "cancel")
            and not (item.get("lease_until") and int(item["lease_until"]) > self.clock.now)
        }
        leased = {item["batch_id"] for item in items if item.get("lease_until")}
        upstream = {k: v for k, v in self.sandbox.statuses().items() if k not in leased}
        assert recorded == upstream

    @invariant()
    def every_drift_is_a_repair_that_happened(self) -> None:
        for _, event in self.events:
            if event["detail-type"] == bus.DRIFT:
                detail = event["detail"]
                assert detail["status"] == detail["sendgrid_status"], detail


def _expiry_action_of(services: Any, method: str, path: str, options: dict) -> Any:
    """The batch's row when this SendGrid call carries out its expiry action (a resume's DELETE, a cancel's PATCH of
    a paused batch whose action has started, under a scanner's lease, before its expiry), else None."""
    if method not in ("DELETE", "PATCH") or not path.startswith("/v3/user/scheduled_sends/"):
        return None
    account = ownership.account_key(options.get("on_behalf_of"))
    row = services.store.get(account, path.rsplit("/", 1)[1])
    now = services.clock.now()
    if row is None or row.status != "pause" or row.action_started_at is None or not row.leased(now):
        return None
    return None if scan_plan.reclaimable(row, now) else row


@contextmanager
def _crashing_at(point: str | None) -> Iterator[None]:
    """The scanner dies at `point`, the first time it gets there in this run."""
    if point is None:
        yield
        return
    services = bootstrap.services()
    leased: list[bool] = []

    def lease_taken(name: str, args: tuple, kwargs: dict) -> bool:
        return name == "take_lease"

    def write_under_a_lease(name: str, args: tuple, kwargs: dict) -> bool:
        if name == "take_lease":
            leased.append(True)
        return name == "change" and bool(leased)

    def expiry_action(name: str, args: tuple, kwargs: dict) -> bool:
        return name == "call" and _expiry_action_of(services, args[0], args[1], kwargs) is not None

    def published(name: str, args: tuple, kwargs: dict) -> bool:
        return name == "publish"

    crash = Crash(point)
    parts = {
        "lease": {"store": DiesAt(services.store, lease_taken, crash, after=True)},
        "before-sendgrid": {"sendgrid": DiesAt(services.sendgrid, expiry_action, crash)},
        "after-sendgrid": {"sendgrid": DiesAt(services.sendgrid, expiry_action, crash, after=True)},
        "after-publish": {"events": DiesAt(services.events, published, crash, after=True)},
        "after-write": {"store": DiesAt(services.store, write_under_a_lease, crash, after=True)},
    }
    with using(**parts[point]):
        yield


@pytest.mark.slow
def test_the_expiry_watch_keeps_its_promises_under_time_crashes_and_concurrent_changes(
    sandbox_sendgrid: SendGridSandbox, clock, virtual_time, published_events, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNKNOWN_BATCH_POLICY", "refuse")
    ExpiryWatch.env = {"sandbox": sandbox_sendgrid, "clock": clock, "drain": published_events}
    run_state_machine_as_test(
        ExpiryWatch,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    fates = Counter(fate for seen in SEEN for fate in seen[0])
    kinds = Counter(kind for seen in SEEN for kind in seen[1])
    print(
        f"expiry watch property: {len(STEPS_EXPLORED)} examples, {sum(STEPS_EXPLORED)} steps; mails {dict(fates)}; "
        f"events {dict(kinds)}; actions sent {sum(seen[2] for seen in SEEN)}"
    )
    assert sum(STEPS_EXPLORED) > 100
