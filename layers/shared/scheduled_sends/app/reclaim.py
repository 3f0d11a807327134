"""Freeing a slot: SendGrid's entry of a batch that no longer holds mail is deleted and the reclaim announced. Used
by the scanner (expired and finished batches) and by reconcile (finished batches SendGrid still lists)."""

from __future__ import annotations

from ..adapters import event_bus as bus
from ..adapters.event_bus import EventBus
from ..adapters.sendgrid.client import api_path
from ..adapters.sendgrid.router import RegionalSendGrid
from ..domain import ownership
from ..domain.batch import Batch
from .event_detail import detail_of, event_id
from .scan_summary import ScanSummary

GONE_OK = (204, 404)  # deleting an entry SendGrid no longer has is what we wanted anyway


class SlotReclaimer:
    def __init__(self, sendgrid: RegionalSendGrid, events: EventBus) -> None:
        self.sendgrid, self.events = sendgrid, events

    def reclaim(self, batch: Batch, reason: str, summary: ScanSummary) -> None:
        path = api_path("user", "scheduled_sends", batch.batch_id)
        answer = self.sendgrid.call("DELETE", path, on_behalf_of=ownership.on_behalf_of_of(batch.account))
        if answer.status not in GONE_OK:
            raise RuntimeError(f"SendGrid answered {answer.status} when freeing the slot")
        self.events.publish(
            bus.SLOT_RECLAIMED,
            detail_of(self.sendgrid, batch, event_id=event_id(bus.SLOT_RECLAIMED, batch), reason=reason),
        )
        summary.reclaimed += 1
