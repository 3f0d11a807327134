"""Pure domain rules: SendGrid's limits and windows, expiry and the scanner's schedule, ownership.

No I/O and no AWS or HTTP imports here, so every rule has a fast unit test. Times are unix seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

MAX_ACTIVE_BATCHES = 10  # SendGrid: at most 10 different batches paused or cancelled at one time
# Of those 10 slots per account, non-admins together hold at most 9: an admin's emergency stop always fits.
ADMIN_RESERVED_SLOTS = 1
DEFAULT_SLOTS_PER_TEAM = 8  # one principal's share of an account's slots (the template's SlotsPerTeam)
# Which rule refused one more slot (the "rule" of a `max limit reached` answer).
SENDGRID_LIMIT = "sendgrid-limit"
TEAM_QUOTA = "team-quota"
ADMIN_RESERVE = "admin-reserve"
CHANGE_WINDOW_SECONDS = 10 * 60  # a pause/cancel later than 10 minutes before send_at is not guaranteed
EXPIRY_SECONDS = 72 * 3600  # a paused batch is discarded as Expired 72 hours after send_at
MAX_SCHEDULE_AHEAD_SECONDS = 72 * 3600  # send_at is at most 72 hours ahead
# SendGrid's entry of a batch is deleted only this long after it stopped mattering, so clock skew
# can never turn the deletion of a pause into a delivery or of a cancel into a send.
RECLAIM_GRACE_SECONDS = 15 * 60
ACTIVE_STATUSES = ("pause", "cancel")
EXPIRY_ACTIONS = ("resume", "cancel")
PARENT_ACCOUNT = "parent"

_ASSUMED_ROLE = re.compile(r"arn:(?P<partition>[\w-]+):sts::(?P<account>\d+):assumed-role/(?P<role>[^/]+)/.+")
# A role's ARN may carry a path (role/ops/oncall); its sessions' ARNs never do (assumed-role/oncall/...).
_ROLE = re.compile(r"arn:(?P<partition>[\w-]+):iam::(?P<account>\d+):role/(?:[^/]+/)*(?P<role>[^/]+)")


def account_key(on_behalf_of: str | None) -> str:
    """The table's partition for an account: the parent, or the `on-behalf-of` subuser/customer account."""
    return f"sub:{on_behalf_of}" if on_behalf_of else PARENT_ACCOUNT


# How long paused batches have left before SendGrid discards them (the dashboard's buckets).
EXPIRY_BUCKETS = ("expired", "under-1h", "1h-6h", "6h-24h", "24h-72h", "over-72h", "unknown")
_BUCKET_LIMITS = (
    (0, "expired"),
    (3600, "under-1h"),
    (6 * 3600, "1h-6h"),
    (24 * 3600, "6h-24h"),
    (72 * 3600, "24h-72h"),
)


def expiry_bucket(expires_at: int | None, now: int) -> str:
    if expires_at is None:
        return "unknown"  # created without send_at: the service cannot know when it expires
    left = expires_at - now
    return next((name for limit, name in _BUCKET_LIMITS if left <= limit), "over-72h")


def subuser_permitted(allowed: tuple[str, ...], on_behalf_of: str | None) -> bool:
    """A token limited to subusers acts only for them, never for the parent account; no limit = any."""
    return not allowed or on_behalf_of in allowed


def on_behalf_of_of(account: str) -> str | None:
    return None if account == PARENT_ACCOUNT else account.removeprefix("sub:")


def owner_of(principal: str) -> str:
    """Every session of an assumed role is one owner: the role itself, written without its path
    (`arn:aws:iam::1:role/<name>`). Role names are unique in an account whatever the path, and a session's ARN
    carries none, so an admin or owner written as `role/ops/oncall` is the same principal as the sessions of
    `oncall`. Rows recorded before paths were dropped already hold this form (they come from sessions)."""
    found = _ASSUMED_ROLE.fullmatch(principal) or _ROLE.fullmatch(principal)
    if found:
        return f"arn:{found['partition']}:iam::{found['account']}:role/{found['role']}"
    return principal


def is_admin(owner: str, admins: Iterable[str]) -> bool:
    return owner_of(owner) in {owner_of(admin) for admin in admins}


def same_owner(a: str | None, b: str | None) -> bool:
    """Two recorded or calling principals are one owner (both normalised the same way)."""
    return a is not None and b is not None and owner_of(a) == owner_of(b)


def may_act(owner: str, batch_owner: str | None, admins: Iterable[str]) -> bool:
    return is_admin(owner, admins) or same_owner(batch_owner, owner)


def slots_held_by(owner: str, held_owners: Iterable[str | None]) -> int:
    return sum(1 for held in held_owners if same_owner(held, owner))


def slot_refusal(held_owners: Iterable[str | None], owner: str, is_admin: bool, slots_per_team: int) -> str | None:
    """The rule that refuses `owner` one more pause/cancel slot in an account, or None. `held_owners` are the
    owners of the slots held there now (None: unowned), the batch being paused not among them.

    SendGrid's 10 is named first (no one can get a slot then); admins are bound by nothing else. A non-admin
    holds at most `slots_per_team` (its own quota, named first: freeing one of its own is what helps), and all
    non-admins together leave the last slot to admins, so an emergency stop is always possible."""
    owners = list(held_owners)
    if len(owners) >= MAX_ACTIVE_BATCHES:
        return SENDGRID_LIMIT
    if is_admin:
        return None
    if slots_held_by(owner, owners) >= slots_per_team:
        return TEAM_QUOTA
    if len(owners) >= MAX_ACTIVE_BATCHES - ADMIN_RESERVED_SLOTS:
        return ADMIN_RESERVE
    return None


def expires_at(send_at: int) -> int:
    return send_at + EXPIRY_SECONDS


def window_closes_at(send_at: int) -> int:
    return send_at - CHANGE_WINDOW_SECONDS


def change_window_open(send_at: int | None, now: int) -> bool:
    return send_at is None or now <= window_closes_at(send_at)


def restated_send_at_reopens_window(recorded: int | None, restated: int | None, now: int) -> bool:
    """A pause or cancel that restates `send_at` later than the recorded one is a correction only while the
    recorded window is open; once it has closed, a later `send_at` would step round the 10-minute rule (SendGrid
    may already be sending at the recorded time), so it is refused. An earlier or equal `send_at` is judged by
    its own window."""
    if recorded is None or restated is None or restated <= recorded:
        return False
    return not change_window_open(recorded, now)


def send_at_problem(send_at: int, now: int) -> str | None:
    """Why `send_at` cannot belong to a batch being scheduled now, or None when it can."""
    if send_at > now + MAX_SCHEDULE_AHEAD_SECONDS:
        return "send_at is more than 72 hours ahead; SendGrid cannot schedule that far"
    if send_at < now - EXPIRY_SECONDS:
        return "send_at is more than 72 hours in the past; the batch has already been sent or expired"
    return None


@dataclass(frozen=True)
class Batch:
    """What the service knows of one batch (a row of the table)."""

    account: str
    batch_id: str
    owner: str | None
    status: str | None = None  # pause | cancel | None (no status at SendGrid) | expired | sent
    send_at: int | None = None
    expiry_action: str | None = None
    warned: tuple[int, ...] = ()  # warning thresholds (seconds before expiry) already announced
    action_taken: str | None = None
    status_at: int | None = None  # when the status last changed
    version: int = 0

    def with_status(self, status: str | None, now: int) -> Batch:
        return self if status == self.status else replace(self, status=status, status_at=now)

    @property
    def expires_at(self) -> int | None:
        return None if self.send_at is None else expires_at(self.send_at)

    @property
    def holds_slot(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class Plan:
    """What the scanner should do with one batch now."""

    warn: tuple[int, ...] = ()  # thresholds newly crossed, largest first
    act: str | None = None  # the expiry_action to carry out now
    expire: bool = False  # paused past expiry: mark expired and free the slot
    reclaim: bool = False  # cancelled past send_at: the SendGrid entry no longer matters


def plan(batch: Batch, now: int, thresholds: Iterable[int], action_lead: int) -> Plan:
    if batch.send_at is None or batch.expires_at is None:
        return Plan()
    if batch.status == "cancel":
        return Plan(reclaim=reclaimable(batch, now))
    if batch.status != "pause":
        return Plan()
    if reclaimable(batch, now):
        return Plan(expire=True)
    remaining = batch.expires_at - now
    warn = tuple(t for t in sorted(thresholds, reverse=True) if remaining <= t and t not in batch.warned)
    act = None
    if batch.expiry_action and batch.action_taken is None and remaining <= action_lead:
        act = batch.expiry_action
    return Plan(warn=warn, act=act)


def next_due(batch: Batch, thresholds: Iterable[int], action_lead: int) -> int | None:
    """When the scanner must next look at the batch; None takes it out of the due index."""
    if batch.send_at is None or batch.expires_at is None:
        return None
    if batch.status == "cancel":
        return _cancel_discarded_at(batch) + RECLAIM_GRACE_SECONDS
    if batch.status != "pause":
        return None
    times = [batch.expires_at - t for t in thresholds if t not in batch.warned]
    if batch.expiry_action and batch.action_taken is None:
        times.append(batch.expires_at - action_lead)
    times.append(batch.expires_at + RECLAIM_GRACE_SECONDS)
    return min(times)


def _cancel_discarded_at(batch: Batch) -> int:
    """SendGrid discards a cancelled batch at send_at, or at once when the cancel came later."""
    assert batch.send_at is not None
    return max(batch.send_at, batch.status_at or 0)


def reclaimable(batch: Batch, now: int) -> bool:
    """The slot is held by a batch whose SendGrid entry no longer matters (the scanner will free it)."""
    if batch.send_at is None or batch.expires_at is None:
        return False
    if batch.status == "cancel":
        return now >= _cancel_discarded_at(batch) + RECLAIM_GRACE_SECONDS
    return batch.status == "pause" and now >= batch.expires_at + RECLAIM_GRACE_SECONDS
