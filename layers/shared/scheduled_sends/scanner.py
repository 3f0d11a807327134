"""The expiry scanner: from the sparse `due` index only, warn before paused batches expire (once per
threshold), carry out `expiry_action`, mark expired batches, free SendGrid's slots, and reconcile each
known account with SendGrid's list. One failing batch never stops the others; a run with failures
raises at the end so Lambda's async retry (then the dead-letter queue) takes over — every step is
idempotent, guarded by conditional writes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import (
    bus,
    clock,
    rules,
    snapstart,  # noqa: F401 - registers the SnapStart hooks
    validation,
)
from .bus import EventBus, event_bus
from .config import Settings, settings
from .errors import BadRequest
from .observability import logger, metrics, tracer
from .rules import Batch
from .sendgrid import SendGridClient, api_path, sendgrid_client
from .store import BatchStore, batch_store

_GONE_OK = (204, 404)  # deleting an entry SendGrid no longer has is what we wanted anyway


class ScanIncomplete(Exception):
    """Some batches or accounts failed; the run is retried (idempotently) by Lambda."""


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


def _detail(batch: Batch, **extra: Any) -> dict[str, Any]:
    return {
        "account": batch.account,
        "on_behalf_of": rules.on_behalf_of_of(batch.account),
        "batch_id": batch.batch_id,
        "owner": batch.owner,
        "status": batch.status,
        "send_at": batch.send_at,
        "expires_at": batch.expires_at,
        "expiry_action": batch.expiry_action,
        **extra,
    }


class Scanner:
    def __init__(self, store: BatchStore, events: EventBus, client: SendGridClient, config: Settings) -> None:
        self.store, self.events, self.client, self.config = store, events, client, config

    def run(self, now: int) -> ScanSummary:
        summary = ScanSummary()
        reads_before = self.store.reads.items
        due = list(self.store.due(now))
        summary.items_read = self.store.reads.items - reads_before  # the due index's reads, nothing else
        for batch in due:
            summary.due += 1
            try:
                self._act_on(batch, now, summary)
            except Exception:
                summary.errors += 1
                logger.exception(
                    "scanner failed on a batch", extra={"batch_id": batch.batch_id, "account": batch.account}
                )
        for account in self.store.accounts():
            try:
                self._reconcile(account, now, summary)
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
                        _detail(batch, threshold_seconds=threshold, seconds_left=batch.expires_at - now),
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
            done = self._change(batch, lambda cur: cur.with_status(status, now), now)
            self.events.publish(bus.EXPIRY_ACTION_TAKEN, _detail(done or batch, action=plan.act))
            summary.actioned += 1
        # The status change is the claim: of two overlapping runs only the one that made it publishes and
        # frees the slot. If freeing fails, reconcile frees it later (SendGrid still lists a finished batch).
        if plan.expire and (expired := self._transition(batch, "pause", "expired", now)):
            self.events.publish(bus.EXPIRED, _detail(expired))
            summary.expired += 1
            self._reclaim(expired, "expired", summary)
        if plan.reclaim and (discarded := self._transition(batch, "cancel", "discarded", now)):
            self._reclaim(discarded, "cancelled and past send_at", summary)
        # Whatever happened, move the row to its next due time (or out of the index).
        self._change(batch, lambda cur: cur, now)

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

    def _reclaim(self, batch: Batch, reason: str, summary: ScanSummary) -> None:
        path = api_path("user", "scheduled_sends", batch.batch_id)
        answer = self.client.call("DELETE", path, on_behalf_of=rules.on_behalf_of_of(batch.account))
        if answer.status not in _GONE_OK:
            raise RuntimeError(f"SendGrid answered {answer.status} when freeing the slot")
        self.events.publish(bus.SLOT_RECLAIMED, _detail(batch, reason=reason))
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

        self._change(batch, edit, now)
        return moved[0] if moved else None

    def _change(self, batch: Batch, edit: Any, now: int) -> Batch | None:
        """Edit the latest version of an existing row (`edit` returns None to leave it)."""
        return self.store.change(
            batch.account, batch.batch_id, lambda current: None if current is None else edit(current), now
        )

    # -- reconcile one account with SendGrid's list ----------------------------------------------
    def _reconcile(self, account: str, now: int, summary: ScanSummary) -> None:
        # The table is read before SendGrid is listed, and a "missing" row is only changed if its version
        # is still the one read, so an operation in flight between the two reads is never undone.
        recorded = {b.batch_id: b for b in self.store.active(account)}
        on_behalf_of = rules.on_behalf_of_of(account)
        answer = self.client.call("GET", api_path("user", "scheduled_sends"), on_behalf_of=on_behalf_of)
        if answer.status != 200:
            raise RuntimeError(f"SendGrid answered {answer.status} to the list")
        upstream: dict[str, str] = {}
        listed = json.loads(answer.body)
        for entry in listed:
            try:
                upstream[validation.batch_id(entry.get("batch_id"))] = validation.status(entry.get("status"))
            except (BadRequest, AttributeError):
                logger.warning("SendGrid listed an entry we cannot use", extra={"account": account})
        summary.slots_in_use[account] = len(listed)
        for row in recorded.values():
            if row.status == "pause":
                summary.paused_by_expiry[rules.expiry_bucket(row.expires_at, now)] += 1
        for batch_id, status in upstream.items():
            row = recorded.get(batch_id) or self.store.get(account, batch_id)
            if row is not None and row.status == status:
                continue
            if row is not None and row.status in ("expired", "discarded"):
                self._reclaim(row, f"{row.status} but still listed by SendGrid", summary)
                continue
            fixed = self.store.change(
                account,
                batch_id,
                lambda cur, b=batch_id, s=status: (cur or Batch(account, b, owner=None)).with_status(s, now),
                now,
            )
            kind = "untracked-at-sendgrid" if row is None else "status-differs"
            self._drift(fixed, kind, status, row.status if row else None, summary)
        for batch_id, row in recorded.items():
            if batch_id in upstream:
                continue
            fixed = self._change(
                row, lambda cur, seen=row.version: cur.with_status(None, now) if cur.version == seen else None, now
            )
            if fixed is not None and fixed.version != row.version:
                self._drift(fixed, "missing-at-sendgrid", None, row.status, summary)

    def _drift(
        self, batch: Batch | None, kind: str, sendgrid_status: str | None, recorded: str | None, summary: ScanSummary
    ) -> None:
        if batch is None:
            return
        self.events.publish(
            bus.DRIFT, _detail(batch, kind=kind, sendgrid_status=sendgrid_status, recorded_status=recorded)
        )
        summary.drift += 1


def run_scan(now: int | None = None) -> ScanSummary:
    scanner = Scanner(batch_store(), event_bus(), sendgrid_client(), settings())
    return scanner.run(clock.now() if now is None else now)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    summary = run_scan()
    counts = summary.counts()
    for name, value in counts.items():
        metrics.add_metric(name=f"Scanner{name.title().replace('_', '')}", unit=MetricUnit.Count, value=value)
    _gauges("SlotsInUse", "account", summary.slots_in_use)
    _gauges("PausedBatches", "expires_in", summary.paused_by_expiry)
    logger.info(
        "scan finished",
        extra={**counts, "slots_in_use": summary.slots_in_use, "paused_by_expiry": summary.paused_by_expiry},
    )
    if summary.errors:
        raise ScanIncomplete(f"{summary.errors} batches or accounts failed; see the log lines above")
    return counts


def _gauges(name: str, dimension: str, values: dict[str, int]) -> None:
    """One metric per dimension value (per account, per bucket), each with the service dimension too."""
    for key, value in values.items():
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name=dimension, value=key)
