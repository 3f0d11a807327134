"""The `Batch` entity: what the service knows of one batch (a row of the batches table), and its statuses."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .changes import Change
from .send_windows import earliest_possible_expiry, expires_at

ACTIVE_STATUSES = ("pause", "cancel")
FINISHED_STATUSES = ("expired", "discarded")  # the scanner ended the batch; SendGrid's entry may still be there
EXPIRY_ACTIONS = ("resume", "cancel")


@dataclass(frozen=True)
class Batch:
    """What the service knows of one batch (a row of the table).

    `send_at` is the earliest send_at of the batch's mails as its owner stated it, `last_send_at` the latest
    (a batch id may group several sends). Warnings and expiry actions are timed from the earliest expiry;
    SendGrid's entry is only ever deleted (reclaimed) after the latest stated one, never on an estimate.
    """

    account: str
    batch_id: str
    owner: str | None
    status: str | None = None  # pause | cancel | None (no status at SendGrid) | expired | discarded
    send_at: int | None = None
    expiry_action: str | None = None
    warned: tuple[int, ...] = ()  # warning thresholds (seconds before expiry) already announced
    action_taken: str | None = None
    status_at: int | None = None  # when the status last changed
    version: int = 0
    last_send_at: int | None = None  # the latest send_at of the batch, when its owner stated it
    held_since: int | None = None  # since when SendGrid has held it (paused or cancelled without a break)
    updated_at: int | None = None  # the row's last write (reconcile never repairs a row newer than its list)
    lease_owner: str | None = None  # a scanner run working on this row ...
    lease_until: int | None = None  # ... until then; after it, another run takes over
    action_started_at: int | None = None  # an expiry action was sent to SendGrid (its answer may be lost)
    change: Change | None = None  # the last change made through the API (who, which request, from and to)
    retry_at: int | None = None  # a run failed on the row's due work: not due again before then (`retry_after`)
    # A finished batch whose SendGrid entry was left in place (SlotReclaim=notify): it still takes a slot.
    entry_left: bool = False
    # The last changes made through the API, newest first (bounded by the store; `change` is the first one).
    history: tuple[Change, ...] = ()

    def with_status(self, status: str | None, now: int, held_from: int | None = None) -> Batch:
        """The row after its status changed at `now`. Becoming paused or cancelled from neither starts an
        episode, watched afresh (its own warnings and expiry action), held since `now` or, when SendGrid held
        it before we knew (reconcile found it), since `held_from`; pause <-> cancel keeps the mail held and so
        keeps the episode; leaving both ends it. A new status is SendGrid's entry as it is now, so a left-in-place
        entry of a finished batch is no longer what holds the slot (`entry_left` clears)."""
        if status == self.status:
            return self
        if status in ACTIVE_STATUSES and not (self.holds_slot and self.held_since is not None):
            return replace(
                self,
                status=status,
                status_at=now,
                held_since=now if held_from is None else min(held_from, now),
                warned=(),
                action_taken=None,
                action_started_at=None,
                retry_at=None,
                entry_left=False,
            )
        held_since = self.held_since if status in ACTIVE_STATUSES else None
        return replace(self, status=status, status_at=now, held_since=held_since, entry_left=False)

    @property
    def expires_at(self) -> int | None:
        """When SendGrid discards the batch's first held mail, at the earliest: from the stated send_at, else
        from when it became held (`earliest_possible_expiry`); None when it holds nothing we know of."""
        if self.send_at is not None:
            return expires_at(self.send_at)
        if self.held_since is not None:
            return earliest_possible_expiry(self.held_since)
        return None

    @property
    def expires_at_basis(self) -> str | None:
        if self.send_at is not None:
            return "send_at"
        return "earliest_possible" if self.held_since is not None else None

    @property
    def last_expires_at(self) -> int | None:
        """When SendGrid discards the batch's last mail: only from a stated `last_send_at`."""
        return None if self.last_send_at is None else expires_at(self.last_send_at)

    @property
    def holds_slot(self) -> bool:
        """Takes one of SendGrid's 10 slots: paused or cancelled, or finished with its entry left in place
        (counted until the entry is gone, or the quota and the admin reserve would undercount)."""
        return self.status in ACTIVE_STATUSES or self.entry_left

    def leased(self, now: int) -> bool:
        return self.lease_until is not None and now < self.lease_until
