"""A change's hold on its batch (`domain.leases`): taken before SendGrid is called, given up with the record of
the outcome (`Recorder.record_change` clears it in the same conditional write) or released when nothing changed."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ..domain import leases
from ..domain.batch import Batch
from .acting import Acting


class Hold:
    """The batch's row as leased to this change (None: no row yet, so nothing to lease), and its lease owner."""

    def __init__(self, acting: Acting, row: Batch | None, owner: str | None) -> None:
        self._acting, self.row, self.owner = acting, row, owner
        self.settled = owner is None  # nothing to give back

    def recorded(self, written: Batch | None) -> None:
        """The record of the outcome gave the lease up when it was written."""
        self.settled = self.settled or written is not None

    def record_change(
        self,
        batch_id: str,
        operation: str,
        status: str | None,
        edit: Callable[[Batch], Batch],
        now: int,
        read: Batch | None,
    ) -> Batch | None:
        """Record the change SendGrid applied, under this hold: from the row as leased (or the row `read` when there
        was none to lease), giving the lease up in the same write."""
        written = self._acting.recorder.record_change(
            batch_id,
            operation,
            status,
            edit,
            now,
            self._acting.upstream.region,
            self.row if self.owner else read,
            lease_owner=self.owner,
        )
        self.recorded(written)
        return written

    def release(self) -> None:
        """Give the lease up without a change (SendGrid refused, the request failed, the record failed)."""
        if not self.settled and self.row is not None and self.owner is not None:
            self.settled = True
            self._acting.services.store.release(self.row.account, self.row.batch_id, self.owner)


def hold_batch(acting: Acting, row: Batch | None, now: int) -> Hold:
    """Lease the batch's row for this change, or 409 (`leases.busy`) while someone else holds it."""
    if row is None:
        return Hold(acting, None, None)
    store = acting.services.store
    owner = leases.change_owner(acting.recorder.request_id or uuid.uuid4().hex)
    held = store.hold(row.account, row.batch_id, owner, now, now + leases.CHANGE_LEASE_SECONDS)
    if held is not None:
        return Hold(acting, held, owner)
    current = store.get(row.account, row.batch_id)  # read only to explain the refusal
    if current is None:
        return Hold(acting, None, None)
    raise leases.busy(current, now)
