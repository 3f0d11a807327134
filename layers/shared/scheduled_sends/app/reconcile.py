"""Reconcile: one account's rows against SendGrid's own list, SendGrid being the source of truth.

A row SendGrid does not list loses its status; an entry SendGrid lists that the table lacks or records
differently is written as SendGrid has it; finished batches SendGrid still lists have their slot freed.
Every repair publishes a Drift event. The reconcile's gauges (slots in use, paused batches by time left)
go into the scan summary.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..adapters import event_bus as bus
from ..adapters.sendgrid import api_path
from ..domain import rules, validation
from ..domain.errors import BadRequest
from ..domain.rules import Batch
from ..runtime.observability import logger
from .event_detail import detail_of

if TYPE_CHECKING:
    from .scanner import Scanner, ScanSummary


class Reconciler:
    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner

    def reconcile(self, account: str, now: int, summary: ScanSummary) -> None:
        # The table is read before SendGrid is listed, and a "missing" row is only changed if its version
        # is still the one read, so an operation in flight between the two reads is never undone.
        recorded = {b.batch_id: b for b in self.scanner.store.active(account)}
        on_behalf_of = rules.on_behalf_of_of(account)
        answer = self.scanner.client.call("GET", api_path("user", "scheduled_sends"), on_behalf_of=on_behalf_of)
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
            row = recorded.get(batch_id) or self.scanner.store.get(account, batch_id)
            if row is not None and row.status == status:
                continue
            if row is not None and row.status in ("expired", "discarded"):
                self.scanner.reclaim(row, f"{row.status} but still listed by SendGrid", summary)
                continue
            fixed = self.scanner.store.change(
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
            fixed = self.scanner.change(
                row, lambda cur, seen=row.version: cur.with_status(None, now) if cur.version == seen else None, now
            )
            if fixed is not None and fixed.version != row.version:
                self._drift(fixed, "missing-at-sendgrid", None, row.status, summary)

    def _drift(
        self, batch: Batch | None, kind: str, sendgrid_status: str | None, recorded: str | None, summary: ScanSummary
    ) -> None:
        if batch is None:
            return
        self.scanner.events.publish(
            bus.DRIFT, detail_of(batch, kind=kind, sendgrid_status=sendgrid_status, recorded_status=recorded)
        )
        summary.drift += 1
