"""Pure domain rules: SendGrid's limits and windows, expiry and the scanner's schedule, ownership.

No I/O and no AWS or HTTP imports here, so every rule has a fast unit test. Times are unix seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .changes import Change

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
# A row whose due work failed waits this long before it is due again, so it does not stay first in the due index
# (its old due time) ahead of the rows waiting behind it. Shorter than any schedule EventBridge allows (1 minute at
# the least; the scanner's is 5), so the next run still retries it.
RETRY_BACKOFF_SECONDS = 30
ACTIVE_STATUSES = ("pause", "cancel")
FINISHED_STATUSES = ("expired", "discarded")  # the scanner ended the batch; SendGrid's entry may still be there
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
        return "unknown"  # holds nothing the service knows of
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


EXPIRES_AT_BASES = ("send_at", "earliest_possible")


def earliest_possible_expiry(held_since: int) -> int:
    """When SendGrid could discard, at the earliest, a mail held by a pause or cancel set at `held_since`
    whose `send_at` nobody told us. A mail still held at `held_since` was not sent before: a pause is honoured
    when set up to 10 minutes before `send_at` (and may be later), so `send_at` >= `held_since` - 10 minutes
    and expiry (`send_at` + 72 h) >= `held_since` + 72 h - 10 minutes. The 10 minutes are subtracted: a
    warning a little early is harmless, a late one is what this service exists to prevent."""
    return held_since - CHANGE_WINDOW_SECONDS + EXPIRY_SECONDS


def found_held_since(previous_list_at: int | None, listed_at: int) -> int:
    """Since when, at the earliest, SendGrid has held a pause or cancel that reconcile found in its list at
    `listed_at` and nobody told us of (its answer was lost, or it was set outside the service). The account's
    previous list did not show it, so it was set after that list. With no earlier list it may be up to 72
    hours old: the earliest possible expiry is then `listed_at` itself, and every warning is due at once. A
    later estimate would be worse than an early warning: the batch could expire before its first one."""
    if previous_list_at is not None and previous_list_at <= listed_at:
        return previous_list_at
    return listed_at + CHANGE_WINDOW_SECONDS - EXPIRY_SECONDS


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


def send_times_problem(send_at: int | None, last_send_at: int | None) -> str | None:
    """Why the stated earliest and latest send_at cannot both hold, or None."""
    if send_at is not None and last_send_at is not None and last_send_at < send_at:
        return "last_send_at is before send_at; send_at is the batch's earliest send, last_send_at its latest"
    return None
