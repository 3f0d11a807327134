"""Leases on a batch: who holds one, for how long a change may hold it, and what a change meeting another's
lease is told (409 with `Retry-After`). The scanner's runs hold a lease under their run id; an operation's change
holds it under its request id, prefixed so the two are told apart."""

from __future__ import annotations

from .batch import Batch
from .errors import Conflict

CHANGE_PREFIX = "change:"
# A change's hold: longer than SendGrid's call within the request's deadline (API Gateway's 29 s), short
# enough that a crashed request blocks the batch only briefly.
CHANGE_LEASE_SECONDS = 30


def change_owner(request_id: str, nonce: str) -> str:
    """A change's lease owner: its request id (what on-call searches the logs for) and a nonce of its own, so that
    two changes never share one, whatever request ids a caller's environment gives (the change's event id is made
    from it)."""
    return f"{CHANGE_PREFIX}{request_id}:{nonce}"


def in_progress(lease_owner: str | None) -> str:
    if lease_owner is not None and lease_owner.startswith(CHANGE_PREFIX):
        return "another change to this batch is in progress"
    return "the expiry scanner is acting on this batch"


def busy(batch: Batch, now: int) -> Conflict:
    """The answer to a change meeting someone else's live lease: nothing was sent to SendGrid."""
    wait = max(1, (batch.lease_until or now) - now)
    return Conflict(
        f"{in_progress(batch.lease_owner)}; nothing was sent to SendGrid, try again in {wait} s",
        field="batch_id",
        headers={"Retry-After": str(wait)},
    )
