"""SendGrid's 10 pause/cancel slots per account and our share of them, pure: who may take one more slot.

Where a pause or cancel is refused for want of a slot (`slot_refusal`), and which rule refused it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .ownership import same_owner

MAX_ACTIVE_BATCHES = 10  # SendGrid: at most 10 different batches paused or cancelled at one time
# Of those 10 slots per account, non-admins together hold at most 9: an admin's emergency stop always fits.
ADMIN_RESERVED_SLOTS = 1
DEFAULT_SLOTS_PER_TEAM = 8  # one principal's share of an account's slots (the template's SlotsPerTeam)
# Which rule refused one more slot (the "rule" of a `max limit reached` answer).
SENDGRID_LIMIT = "sendgrid-limit"
TEAM_QUOTA = "team-quota"
ADMIN_RESERVE = "admin-reserve"


def ledger_limit(is_admin: bool) -> int | None:
    """How many slots the ledger may hold when a caller takes one more: 9 for a non-admin (the admin reserve), and no
    bound for an admin. SendGrid's own refusal is the only one an admin can get: the ledger also counts changes in
    flight, and a resume SendGrid has applied and not yet answered still holds its entry, so a tenth slot free at
    SendGrid may look taken (found by the slot property test: an admin refused while SendGrid held 9)."""
    return None if is_admin else MAX_ACTIVE_BATCHES - ADMIN_RESERVED_SLOTS


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
