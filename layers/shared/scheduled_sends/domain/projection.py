"""What recording a pause or cancel would make of a batch's row that holds no status, worked out whenever the row is
written, so that a team's pause or cancel can be recorded without reading the row (pure; times are unix seconds).

A team's pause or cancel holds its batch and takes its slot in one transaction, and DynamoDB returns no item from
a transaction: the record after SendGrid cannot start from the row as held. What the record must compute from the
row (its expiry, its place in the listing, when the scanner is next due) depends on the row's send times and
expiry action, which only the row knows, and on when the change is made, which only the record knows. The row
therefore carries its projection: the expiry, and for each status the scanner's next due time less that expiry.
The record copies them with update expressions (`BatchStore.record_projected`), on the condition that the row
still holds no status and that the projection was made with the scanner's current plan. Every write of the row
makes it afresh, from the domain's own rules (`Batch.with_status`, `scan_plan.next_due`), so no rule is written
twice.

A projection is made only where it does not depend on when the change is made: the derived times are monotone in
that moment (maxima and minima of it and of the row's times), so equal at the earliest and at the latest moment a
change can be recorded means equal at every moment between.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from .batch import ACTIVE_STATUSES, Batch
from .scan_plan import next_due
from .send_windows import MAX_SCHEDULE_AHEAD_SECONDS, send_times_problem, window_closes_at

NEVER_DUE = 2**52  # a due time no scanner run reaches: the row waits in the due index for its next write
_OPEN_ENDED_SECONDS = 10 * 365 * 24 * 3600  # the latest moment considered for a batch with no stated send_at


@dataclass(frozen=True)
class Projection:
    """`expires_at`: the expiry a pause or cancel gives the row, None when it is counted from the moment of the
    change (no send_at stated: `send_windows.earliest_possible_expiry`). `due_after_expiry`: per status, the
    scanner's next due time less that expiry (`NEVER_DUE` less it when nothing will be due); a status absent
    depends on the moment of the change and is recorded from the row instead."""

    expires_at: int | None
    due_after_expiry: dict[str, int]


def plan_key(thresholds: Iterable[int], action_lead: int) -> str:
    """The scanner's plan a projection was made with: a projection made under another is not used."""
    return ",".join(str(t) for t in sorted(thresholds)) + f"/{action_lead}"


def held(batch: Batch, status: str, at: int) -> Batch:
    """The row after a pause or cancel recorded at `at` on a row of no status (the change's lease given up)."""
    return replace(batch, lease_owner=None, lease_until=None).with_status(status, at)


def project(batch: Batch, thresholds: Iterable[int], action_lead: int, now: int) -> Projection | None:
    """The row's projection, or None when it holds a status (or a left entry), or when its send times disagree
    (`SendTimes.applied` would change them)."""
    if batch.status is not None or batch.entry_left or send_times_problem(batch.send_at, batch.last_send_at):
        return None
    thresholds = tuple(thresholds)
    if batch.send_at is None:
        moments = (now, now + _OPEN_ENDED_SECONDS)
    else:  # a change is recorded after the batch was scheduled (at most 72 h ahead) and before its window closes
        moments = (batch.send_at - MAX_SCHEDULE_AHEAD_SECONDS, window_closes_at(batch.send_at))
    due_after_expiry = {}
    for status in ACTIVE_STATUSES:
        offsets = set()
        for at in moments:
            row = held(batch, status, at)
            assert row.expires_at is not None  # a held row always has an expiry
            offsets.add((next_due(row, thresholds, action_lead) or NEVER_DUE) - row.expires_at)
        if len(offsets) == 1:
            due_after_expiry[status] = offsets.pop()
    expires_at = None if batch.send_at is None else held(batch, ACTIVE_STATUSES[0], moments[0]).expires_at
    return Projection(expires_at, due_after_expiry)
