"""What recording a pause or cancel would make of a batch's row that holds no status, worked out whenever the row is
written, so that a team's pause or cancel can be recorded without reading the row (pure; times are unix seconds).

A team's pause or cancel holds its batch and takes its slot in one transaction, and DynamoDB returns no item from
a transaction: the record after SendGrid cannot start from the row as held. What the record must compute from the
row (its expiry, its place in the listing, when the scanner is next due) depends on the row's send times and
expiry action, which only the row knows, and on when the change is made, which only the record knows. The row
therefore carries its projection: the expiry, and for each status the scanner's next due time, fixed or counted
from that expiry. The record copies them with update expressions (`BatchStore.record_projected`), on the condition
that the row still holds no status, still has the send times and expiry action the projection was made from, and
that the projection was made under the scanner's current plan by the running release. Every write of the row makes
it afresh, from the domain's own rules (`Batch.with_status`, `scan_plan.next_due`), so no rule is written twice.

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
class Due:
    """When the scanner is next due on the held row: at `time`, or (`from_expiry`) `time` after its expiry."""

    time: int
    from_expiry: bool = False


@dataclass(frozen=True)
class Projection:
    """`expires_at`: the expiry a pause or cancel gives the row, None when it is counted from the moment of the
    change (no send_at stated: `send_windows.earliest_possible_expiry`). `due`: per status, the scanner's next due
    time (`NEVER_DUE` when nothing will be due); a status absent depends on the moment of the change in another way
    and is recorded from the row instead."""

    expires_at: int | None
    due: dict[str, Due]


def plan_key(thresholds: Iterable[int], action_lead: int, release: str) -> str:
    """The scanner's plan a projection was made with, and the release whose rules made it: a projection made under
    another is not used (the row's next write makes it afresh)."""
    return ",".join(str(t) for t in sorted(thresholds)) + f"/{action_lead}/{release}"


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
    due = {}
    for status in ACTIVE_STATUSES:
        rows = [held(batch, status, at) for at in moments]
        times = [next_due(row, thresholds, action_lead) or NEVER_DUE for row in rows]
        after_expiry = {time - _expiry(row) for time, row in zip(times, rows, strict=True)}
        if len(set(times)) == 1:
            due[status] = Due(times[0])
        elif len(after_expiry) == 1:
            due[status] = Due(after_expiry.pop(), from_expiry=True)
    expires_at = None if batch.send_at is None else _expiry(held(batch, ACTIVE_STATUSES[0], moments[0]))
    return Projection(expires_at, due)


def _expiry(row: Batch) -> int:
    assert row.expires_at is not None  # a held row always has an expiry
    return row.expires_at
