"""The expiry scanner: from the sparse `due` index only, warn before paused batches expire (once per
threshold), carry out `expiry_action`, mark expired batches, free SendGrid's slots, then reconcile each
known account with SendGrid's list (`reconcile`). One failing batch never stops the others; a run with
failures reports them so the entry point raises and Lambda's async retry (then the dead-letter queue)
takes over — every step is idempotent, guarded by conditional writes. When each batch is next due is a
domain rule (`scan_plan.next_due`); how often the scanner runs is the template's schedule."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

from ..adapters import event_bus as bus
from ..adapters.accounts import AccountRegistry
from ..adapters.batches_table import BatchStore
from ..adapters.event_bus import EventBus
from ..adapters.sendgrid.client import api_path
from ..adapters.sendgrid.router import RegionalSendGrid
from ..domain import expiry_buckets, ownership, scan_plan, slot_quota
from ..domain.batch import Batch
from ..domain.scan_limits import RateShare, slot_gauges
from ..runtime.clock import SYSTEM_CLOCK, Clock
from ..runtime.observability import logger
from ..runtime.settings import Settings
from .event_detail import detail_of, event_id
from .ops_queries import at_risk_gauges
from .reclaim import GONE_OK, SlotReclaimer
from .reconcile import Reconciler
from .scan_summary import ScanSummary
from .services import Services

_STATUS_AFTER = {"resume": None, "cancel": "cancel"}  # an expiry action -> the batch's status once it is carried out


def _retried(batch: Batch) -> Batch:
    """The row once its due work is done: no longer held back by an earlier failure's backoff."""
    return replace(batch, retry_at=None)


class LeaseLost(Exception):
    """This run's lease on a batch ended and another run took the batch over: leave it to that run."""


def _moved(batch: Batch, from_status: str, to_status: str, now: int, entry_left: bool = False) -> Batch:
    """`entry_left`: SendGrid's entry stays (SlotReclaim=notify), so the finished row still counts its slot."""
    if batch.status != from_status:
        return batch
    return replace(batch.with_status(to_status, now), entry_left=entry_left)


class Scanner:
    """One run's work on the due batches; reconcile (`Reconciler`) after them. Its collaborators are handed in."""

    def __init__(
        self,
        store: BatchStore,
        events: EventBus,
        client: RegionalSendGrid,
        config: Settings,
        accounts: AccountRegistry,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store, self.events, self.client, self.config = store, events, client, config
        self.accounts, self.clock = accounts, clock
        self.rate = RateShare(config.scan_rate_limit_reserve)
        self.reclaimer = SlotReclaimer(client, events)
        self.reconciler = Reconciler(store, accounts, client, events, config, clock, self.rate, self.reclaimer)
        self.run_id = uuid.uuid4().hex  # whose lease a row is under

    def run(self, now: int) -> ScanSummary:
        """Due batches first (they protect mail), then the accounts whose reconcile is due, until the run's
        deadline (the entry point's, from the Lambda's remaining time; else `scan_budget_seconds`): work not
        started by then is left for the next run, which starts where this one stopped."""
        clock = self.clock
        with clock.deadline_in(self.config.scan_budget_seconds) if clock.deadline() is None else nullcontext():
            summary = ScanSummary()
            due = self.store.due(now)
            summary.items_read = due.items_read  # the due index's reads, nothing else
            for batch in self._work_order(due.batches, now):
                if not self._has_time():
                    break
                summary.due += 1
                try:
                    self.accounts.remember(batch.account)  # every account with watched batches is reconciled
                    self._act_on(batch, now, summary)
                except Exception:
                    summary.errors += 1
                    logger.exception(
                        "scanner failed on a batch", extra={"batch_id": batch.batch_id, "account": batch.account}
                    )
            if self._has_time():
                self.reconciler.reconcile_due(now, summary, self._has_time)
            summary.sendgrid_calls = self.rate.calls
            # The backlog: accounts due that this run did not get to (one it reconciled may be due again already:
            # a slot taken in it since puts it first in line for the next run).
            due_accounts = itertools.islice(self.accounts.due(now), 10_000)
            summary.reconcile_due = sum(1 for account in due_accounts if account not in summary.slots_in_use)
            summary.stopped_early = int(
                not self._has_time() and bool(summary.reconcile_due or len(due.batches) > summary.due)
            )
            self._gauges(now, summary)
            return summary

    def _work_order(self, batches: list[Batch], now: int) -> list[Batch]:
        """Warnings before the work that waits on SendGrid, each oldest due first (`scan_plan.work_order`)."""
        return scan_plan.work_order(
            batches,
            now,
            self.config.warning_thresholds_seconds,
            self.config.expiry_action_lead_seconds,
            frees_slots=self.config.slot_reclaim == "auto",
        )

    def _has_time(self) -> bool:
        remaining = self.clock.remaining_seconds()
        return remaining is None or remaining > 0

    def _gauges(self, now: int, summary: ScanSummary) -> None:
        """Aggregates over every account from what each one's last reconcile saw: their number and cost do not
        grow with the accounts (one metric per gauge, per expiry bucket)."""
        records = list(self.accounts.records())
        summary.slot_gauges = slot_gauges((r.slots_in_use for r in records), slot_quota.MAX_ACTIVE_BATCHES)
        for record in records:
            for expires_at in record.paused_expiries:
                summary.paused_by_expiry[expiry_buckets.expiry_bucket(expires_at, now)] += 1
        summary.at_risk = at_risk_gauges(self.store, now).metrics()

    # -- one due batch -----------------------------------------------------------------------------
    def _act_on(self, batch: Batch, now: int, summary: ScanSummary) -> None:
        """Do what is due on one row, under a lease: warnings, the expiry action, expiry and reclaim. Every step
        is safe to repeat, so a run that dies anywhere is taken over when its lease ends: each event is
        published at least once with a stable `event_id`, and SendGrid's state is checked before an action
        that may already have been sent is sent again."""
        plan = self._plan(batch, now)
        stale_lease = batch.lease_until is not None and not batch.leased(now)
        if plan == scan_plan.Plan() and not stale_lease:
            self.change(batch, _retried, now)  # nothing due: move the row to its next due time
            return
        leased = self.store.take_lease(batch, self.run_id, now, now + self.config.scan_lease_seconds)
        if leased is None:
            return  # another run holds it, or its status changed since the index was read
        try:
            self._leased_work(leased, self._plan(leased, now), now, summary)  # planned again on the consistent row
        except LeaseLost:
            logger.warning("lost the lease on a batch", extra={"batch_id": batch.batch_id, "account": batch.account})
        except Exception:
            self._within_lease(leased, lambda current: self._retry_later(current, now), now, release=True)
            raise

    def _retry_later(self, batch: Batch, now: int) -> Batch:
        """The row whose work failed, due again after a backoff (`scan_plan.retry_after`), behind the rows waiting."""
        retry_at = scan_plan.retry_after(
            batch, now, self.config.warning_thresholds_seconds, self.config.expiry_action_lead_seconds
        )
        return replace(batch, retry_at=retry_at)

    def _plan(self, batch: Batch, now: int) -> scan_plan.Plan:
        return scan_plan.plan(
            batch, now, self.config.warning_thresholds_seconds, self.config.expiry_action_lead_seconds
        )

    def _leased_work(self, batch: Batch, plan: scan_plan.Plan, now: int, summary: ScanSummary) -> None:
        if plan.warn:
            assert batch.expires_at is not None
            for threshold in plan.warn:
                self.events.publish(
                    bus.EXPIRY_WARNING,
                    detail_of(
                        self.client,
                        batch,
                        event_id=event_id(bus.EXPIRY_WARNING, batch, threshold),
                        threshold_seconds=threshold,
                        seconds_left=batch.expires_at - now,
                    ),
                )
                summary.warned += 1
            crossed = set(plan.warn)
            batch = self._within_lease(
                batch, lambda current: replace(current, warned=tuple(sorted(set(current.warned) | crossed))), now
            )
        if plan.act:
            batch = self._expiry_action(batch, plan.act, now, summary)
        elif plan.expire:
            self.events.publish(bus.EXPIRED, detail_of(self.client, batch, event_id=event_id(bus.EXPIRED, batch)))
            summary.expired += 1
            left = self._free_slot(batch, "expired", summary)
            batch = self._within_lease(batch, lambda current: _moved(current, "pause", "expired", now, left), now)
        elif plan.reclaim:
            left = self._free_slot(batch, "cancelled and past the last send_at", summary)
            batch = self._within_lease(batch, lambda current: _moved(current, "cancel", "discarded", now, left), now)
        self._within_lease(batch, _retried, now, release=True)

    def _expiry_action(self, batch: Batch, action: str, now: int, summary: ScanSummary) -> Batch:
        may_have_been_sent = batch.action_started_at is not None  # by a run that died before recording it
        batch = self._within_lease(batch, lambda current: replace(current, action_started_at=now), now)
        if not (may_have_been_sent and self._already_applied(batch, action)):
            self._carry_out(batch, action)
        after = _STATUS_AFTER[action]
        self.events.publish(
            bus.EXPIRY_ACTION_TAKEN,
            detail_of(
                self.client,
                batch,
                event_id=event_id(bus.EXPIRY_ACTION_TAKEN, batch),
                action=action,
                status=after,  # what SendGrid holds now; the pause it replaced is `previous_status`
                previous_status=batch.status,
            ),
        )
        summary.actioned += 1

        def done(current: Batch) -> Batch:
            # Under the lease no change can come between the action and this record (a team's change meeting
            # the lease is refused with a 409, and this write needs the lease still held).
            applied = current.with_status(after, now)
            return replace(applied, action_taken=action, action_started_at=None)

        return self._within_lease(batch, done, now)

    def _already_applied(self, batch: Batch, action: str) -> bool:
        """What SendGrid holds now says whether an action sent by a run that died was applied."""
        path = api_path("user", "scheduled_sends", batch.batch_id)
        answer = self.client.call("GET", path, on_behalf_of=ownership.on_behalf_of_of(batch.account))
        if answer.status == 404:
            return True  # no status: resumed (or removed by someone): there is nothing left to do either way
        if answer.status != 200:
            raise RuntimeError(f"SendGrid answered {answer.status} to a status read")
        statuses = {entry.get("status") for entry in json.loads(answer.body) if isinstance(entry, dict)}
        return action == "cancel" and statuses == {"cancel"}

    def _carry_out(self, batch: Batch, action: str) -> None:
        on_behalf_of = ownership.on_behalf_of_of(batch.account)
        path = api_path("user", "scheduled_sends", batch.batch_id)
        if action == "resume":
            answer = self.client.call("DELETE", path, on_behalf_of=on_behalf_of)
            ok = answer.status in GONE_OK
        else:
            answer = self.client.call("PATCH", path, on_behalf_of=on_behalf_of, body={"status": "cancel"})
            ok = answer.status in (204, 404)  # 404: resumed meanwhile, so nothing is held to cancel
        if not ok:
            raise RuntimeError(f"SendGrid answered {answer.status} to the expiry action {action}")

    def _free_slot(self, batch: Batch, reason: str, summary: ScanSummary) -> bool:
        """SlotReclaim=auto: delete SendGrid's entry, which no longer holds mail; notify: only say it could be.
        True when the entry was left in place: its slot is still taken, and the row must keep counting it."""
        if self.config.slot_reclaim == "notify":
            self.events.publish(
                bus.SLOT_RECLAIMABLE,
                detail_of(self.client, batch, event_id=event_id(bus.SLOT_RECLAIMABLE, batch), reason=reason),
            )
            return True
        self.reclaimer.reclaim(batch, reason, summary)
        return False

    def _within_lease(self, batch: Batch, edit: Any, now: int, release: bool = False) -> Batch:
        """Write `edit` of the latest row while this run still holds its lease (`release`: and give the lease
        up, which puts the row back at its next due time); LeaseLost when another run has taken it over."""

        def guarded(current: Batch) -> Batch | None:
            if current.lease_owner != self.run_id:
                return None
            edited: Batch = edit(current)
            return replace(edited, lease_owner=None, lease_until=None) if release else edited

        written = self.change(batch, guarded, now)
        if written is None or written.lease_owner != (None if release else self.run_id):
            raise LeaseLost(batch.batch_id)
        return written

    def change(self, batch: Batch, edit: Callable[[Batch], Batch | None], now: int) -> Batch | None:
        """Edit the latest version of an existing row (`edit` returns None to leave it)."""
        return self.store.change(
            batch.account, batch.batch_id, lambda current: None if current is None else edit(current), now
        )


def run_scan(services: Services, now: int | None = None) -> ScanSummary:
    """One scanner run over the services' table, bus, SendGrid, registry and clock."""
    scanner = Scanner(
        services.store, services.events, services.sendgrid, services.config, services.accounts, services.clock
    )
    return scanner.run(services.clock.now() if now is None else now)
