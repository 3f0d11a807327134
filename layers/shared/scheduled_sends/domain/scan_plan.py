"""The scanner's plan for one batch, pure: which warnings, expiry action, expiry or reclaim are due now
(`plan`), when the batch is next due (`next_due`), when failed work is retried (`retry_after`) and the order a
run works its due rows (`work_order`). Times are unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .batch import Batch

# SendGrid's entry of a batch is deleted only this long after it stopped mattering, so clock skew
# can never turn the deletion of a pause into a delivery or of a cancel into a send.
RECLAIM_GRACE_SECONDS = 15 * 60
# A row whose due work failed waits this long before it is due again, so it does not stay first in the due index
# (its old due time) ahead of the rows waiting behind it. Shorter than any schedule EventBridge allows (1 minute at
# the least; the scanner's is 5), so the next run still retries it.
RETRY_BACKOFF_SECONDS = 30


@dataclass(frozen=True)
class Plan:
    """What the scanner should do with one batch now."""

    warn: tuple[int, ...] = ()  # thresholds newly crossed, largest first
    act: str | None = None  # the expiry_action to carry out now
    expire: bool = False  # paused past the last mail's expiry: mark expired and free the slot
    reclaim: bool = False  # cancelled past the last send_at: the SendGrid entry no longer matters

    @property
    def needs_lease(self) -> bool:
        """Warnings and actions are leased work (at least once, each action once); expire and reclaim are
        claimed by the status change itself."""
        return bool(self.warn or self.act)


def plan(batch: Batch, now: int, thresholds: Iterable[int], action_lead: int) -> Plan:
    if batch.status == "cancel":
        return Plan(reclaim=reclaimable(batch, now))
    if batch.status != "pause":
        return Plan()
    if reclaimable(batch, now):
        return Plan(expire=True)
    expiry = batch.expires_at
    if expiry is None:
        return Plan()
    remaining = expiry - now
    warn = tuple(t for t in sorted(thresholds, reverse=True) if remaining <= t and t not in batch.warned)
    act = None
    if batch.expiry_action and batch.action_taken is None and remaining <= action_lead:
        act = batch.expiry_action
    return Plan(warn=warn, act=act)


def next_due(batch: Batch, thresholds: Iterable[int], action_lead: int) -> int | None:
    """When the scanner must next look at the batch; None takes it out of the due index. A leased row is
    due when its lease ends, so a run that died is taken over; a row whose work failed, not before `retry_at`."""
    if batch.lease_until is not None:
        return batch.lease_until
    times = _step_times(batch, thresholds, action_lead)
    if not times:
        return None
    return min(times) if batch.retry_at is None else max(min(times), batch.retry_at)


def _step_times(batch: Batch, thresholds: Iterable[int], action_lead: int) -> list[int]:
    """When each step still ahead of the batch falls due (some may be past: work not done yet)."""
    times: list[int] = []
    if batch.status == "cancel":
        if batch.last_send_at is not None:
            times.append(_cancel_discarded_at(batch) + RECLAIM_GRACE_SECONDS)
    elif batch.status == "pause":
        expiry = batch.expires_at
        if expiry is not None:
            times.extend(expiry - t for t in thresholds if t not in batch.warned)
            if batch.expiry_action and batch.action_taken is None:
                times.append(expiry - action_lead)
        if batch.last_expires_at is not None:
            times.append(batch.last_expires_at + RECLAIM_GRACE_SECONDS)
    return times


def retry_after(batch: Batch, now: int, thresholds: Iterable[int], action_lead: int) -> int:
    """When work that failed on the batch at `now` is tried again: after `RETRY_BACKOFF_SECONDS`, not at its old
    due time, where it would come first in every run and a SendGrid that keeps failing would starve the rows
    behind it. Never later than a step not yet due (a coming warning or action keeps its time), nor than the
    backoff before the expiry of a paused mail (a failed warning or expiry action is retried while it still
    protects the mail; at once when less is left)."""
    latest = [now + RETRY_BACKOFF_SECONDS]
    latest.extend(t for t in _step_times(batch, thresholds, action_lead) if t > now)
    expiry = batch.expires_at if batch.status == "pause" else None
    if expiry is not None and expiry > now:
        latest.append(max(now, expiry - RETRY_BACKOFF_SECONDS))
    return min(latest)


def calls_sendgrid(plan: Plan, frees_slots: bool) -> bool:
    """Whether carrying out `plan` calls SendGrid (and so waits on it): an expiry action does, and so does freeing
    a slot when the scanner deletes SendGrid's entry itself (`frees_slots`: SlotReclaim=auto); warnings never do."""
    return plan.act is not None or (frees_slots and (plan.expire or plan.reclaim))


def work_order(
    batches: Iterable[Batch], now: int, thresholds: Iterable[int], action_lead: int, frees_slots: bool
) -> list[Batch]:
    """Due rows in the order a run works them: the ones whose work calls no SendGrid (warnings) first, so a slow
    SendGrid cannot use up the run on actions and reclaims before a warning is published; each group keeps the
    order it came in (the due index's: oldest due first)."""
    read_once = tuple(thresholds)  # an iterable may be read only once; a plan is made per row
    return sorted(batches, key=lambda b: calls_sendgrid(plan(b, now, read_once, action_lead), frees_slots))


def _cancel_discarded_at(batch: Batch) -> int:
    """SendGrid discards a cancelled batch's last mail at last_send_at, or at once when the cancel came later."""
    assert batch.last_send_at is not None
    return max(batch.last_send_at, batch.status_at or 0)


def reclaimable(batch: Batch, now: int) -> bool:
    """The slot is held by a batch whose SendGrid entry no longer matters (the scanner may free it). Only
    ever from the owner's stated `last_send_at`: a batch may hold later sends than any estimate shows. A
    finished batch whose entry was left in place is reclaimable by definition (it was finished for that)."""
    if batch.entry_left:
        return True
    if batch.last_send_at is None:
        return False
    if batch.status == "cancel":
        return now >= _cancel_discarded_at(batch) + RECLAIM_GRACE_SECONDS
    last_expiry = batch.last_expires_at
    return batch.status == "pause" and last_expiry is not None and now >= last_expiry + RECLAIM_GRACE_SECONDS
