"""The expiry scanner: from the sparse `due` index only, warn before paused batches expire (once per
threshold), carry out `expiry_action`, mark expired batches, free SendGrid's slots, then reconcile each
known account with SendGrid's list (`reconcile`). One failing batch never stops the others; a run with
failures reports them so the entry point raises and Lambda's async retry (then the dead-letter queue)
takes over — every step is idempotent, guarded by conditional writes. When each batch is next due is a
domain rule (`rules.next_due`); how often the scanner runs is the template's schedule."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..adapters import event_bus as bus
from ..adapters.accounts import AccountRegistry, account_registry
from ..adapters.batches_table import BatchStore, batch_store
from ..adapters.event_bus import EventBus, event_bus
from ..adapters.sendgrid import SendGridClient, api_path, sendgrid_client
from ..domain import rules
from ..domain.rules import Batch
from ..runtime import clock
from ..runtime.observability import logger
from ..runtime.settings import Settings, settings
from .event_detail import detail_of
from .reconcile import Reconciler

_GONE_OK = (204, 404)  # deleting an entry SendGrid no longer has is what we wanted anyway


@dataclass
class ScanSummary:
    due: int = 0
    warned: int = 0
    actioned: int = 0
    expired: int = 0
    reclaimed: int = 0
    drift: int = 0
    errors: int = 0
    items_read: int = 0
    # Gauges from reconcile: SendGrid's entries (slots used, of 10) per account, paused batches by time left.
    slots_in_use: dict[str, int] = field(default_factory=dict)
    paused_by_expiry: dict[str, int] = field(default_factory=lambda: dict.fromkeys(rules.EXPIRY_BUCKETS, 0))

    def counts(self) -> dict[str, int]:
        """The counters (the gauges are dicts); read from the values, not the postponed annotations."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), int)}


class Scanner:
    def __init__(
        self,
        store: BatchStore,
        events: EventBus,
        client: SendGridClient,
        config: Settings,
        accounts: AccountRegistry | None = None,
    ) -> None:
        self.store, self.events, self.client, self.config = store, events, client, config
        self.accounts = accounts or account_registry()
        self.reconciler = Reconciler(self)

    def run(self, now: int) -> ScanSummary:
        summary = ScanSummary()
        due = self.store.due(now)
        summary.items_read = due.items_read  # the due index's reads, nothing else
        for batch in due.batches:
            summary.due += 1
            try:
                self._act_on(batch, now, summary)
            except Exception:
                summary.errors += 1
                logger.exception(
                    "scanner failed on a batch", extra={"batch_id": batch.batch_id, "account": batch.account}
                )
        for account in self.accounts.all():
            try:
                self.reconciler.reconcile(account, now, summary)
            except Exception:
                summary.errors += 1
                logger.exception("reconcile failed", extra={"account": account})
        return summary

    # -- one due batch -----------------------------------------------------------------------------
    def _act_on(self, batch: Batch, now: int, summary: ScanSummary) -> None:
        thresholds, lead = self.config.warning_thresholds_seconds, self.config.expiry_action_lead_seconds
        plan = rules.plan(batch, now, thresholds, lead)
        for threshold in plan.warn:
            if self.store.claim_warning(batch, threshold):
                try:
                    self.events.publish(
                        bus.EXPIRY_WARNING,
                        detail_of(batch, threshold_seconds=threshold, seconds_left=batch.expires_at - now),
                    )
                except Exception:
                    self.store.release_warning(batch, threshold)  # the next run announces it instead
                    raise
                summary.warned += 1
        if plan.act and self.store.claim_action(batch, plan.act):
            try:
                self._carry_out(batch, plan.act)
            except Exception:
                self.store.release_action(batch)
                raise
            status = None if plan.act == "resume" else "cancel"
            done = self.change(batch, lambda cur: cur.with_status(status, now), now)
            self.events.publish(bus.EXPIRY_ACTION_TAKEN, detail_of(done or batch, action=plan.act))
            summary.actioned += 1
        # The status change is the claim: of two overlapping runs only the one that made it publishes and
        # frees the slot. If freeing fails, reconcile frees it later (SendGrid still lists a finished batch).
        if plan.expire and (expired := self._transition(batch, "pause", "expired", now)):
            self.events.publish(bus.EXPIRED, detail_of(expired))
            summary.expired += 1
            self.reclaim(expired, "expired", summary)
        if plan.reclaim and (discarded := self._transition(batch, "cancel", "discarded", now)):
            self.reclaim(discarded, "cancelled and past send_at", summary)
        # Whatever happened, move the row to its next due time (or out of the index).
        self.change(batch, lambda cur: cur, now)

    def _carry_out(self, batch: Batch, action: str) -> None:
        on_behalf_of = rules.on_behalf_of_of(batch.account)
        path = api_path("user", "scheduled_sends", batch.batch_id)
        if action == "resume":
            answer = self.client.call("DELETE", path, on_behalf_of=on_behalf_of)
            ok = answer.status in _GONE_OK
        else:
            answer = self.client.call("PATCH", path, on_behalf_of=on_behalf_of, body={"status": "cancel"})
            ok = answer.status == 204
        if not ok:
            raise RuntimeError(f"SendGrid answered {answer.status} to the expiry action {action}")

    def reclaim(self, batch: Batch, reason: str, summary: ScanSummary) -> None:
        path = api_path("user", "scheduled_sends", batch.batch_id)
        answer = self.client.call("DELETE", path, on_behalf_of=rules.on_behalf_of_of(batch.account))
        if answer.status not in _GONE_OK:
            raise RuntimeError(f"SendGrid answered {answer.status} when freeing the slot")
        self.events.publish(bus.SLOT_RECLAIMED, detail_of(batch, reason=reason))
        summary.reclaimed += 1

    def _transition(self, batch: Batch, from_status: str, to_status: str, now: int) -> Batch | None:
        """The row moved from `from_status` to `to_status` by this call, or None when it was not in
        `from_status` any more (another run, or an operation, got there first)."""
        moved: list[Batch] = []

        def edit(current: Batch) -> Batch | None:
            moved.clear()
            if current.status != from_status:
                return None
            moved.append(current.with_status(to_status, now))
            return moved[0]

        self.change(batch, edit, now)
        return moved[0] if moved else None

    def change(self, batch: Batch, edit: Any, now: int) -> Batch | None:
        """Edit the latest version of an existing row (`edit` returns None to leave it)."""
        return self.store.change(
            batch.account, batch.batch_id, lambda current: None if current is None else edit(current), now
        )


def run_scan(now: int | None = None) -> ScanSummary:
    """One scanner run over the current container's table, bus and SendGrid client."""
    scanner = Scanner(batch_store(), event_bus(), sendgrid_client(), settings())
    return scanner.run(clock.now() if now is None else now)
