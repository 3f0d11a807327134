"""Where a pause's or cancel's slot is counted and taken: SendGrid's 10 slots per account, the team quota and the
admin reserve (`domain.slot_quota`), taken in one conditional write on the account's slot ledger before SendGrid
is called (`adapters.slot_ledger`), so concurrent pauses can never together pass a rule. The table's word alone
never refuses: when the ledger says a rule is reached, SendGrid's own list is read, the ledger is brought to it (the
rows are left to reconcile, which announces their repair), and the take is tried again. A refusal is SendGrid's
"max limit reached", saying which rule refused and which slots are held."""

from __future__ import annotations

from ..adapters.batches_table import BatchStore
from ..adapters.sendgrid.client import api_path
from ..adapters.slot_ledger import Ledger
from ..domain import scan_plan, slot_quota
from ..domain.batch import Batch
from ..domain.errors import BadRequest
from ..runtime.observability import logger
from .acting import Acting
from .caller import Caller
from .holding import Hold
from .repair import listed_statuses

LIMIT_MESSAGE = "max limit reached"
_ATTEMPTS = 3


def take_slot(acting: Acting, hold: Hold, now: int) -> None:
    """Take the held batch's slot in its account's ledger under every rule, or raise SendGrid's "max limit
    reached" naming the rule. The take puts the account first in line for the scanner's next reconcile
    (`slot_ledger.take_update`)."""
    caller, services = acting.caller, acting.services
    batch_id, slots = hold.row.batch_id, services.store.slots
    slot_owner = caller.new_row(batch_id, hold.row).owner
    quota = services.config.slots_per_team
    asked_sendgrid = dropped_strays = False
    rule: str | None = None
    for _ in range(_ATTEMPTS + 1):  # one more for dropping strays
        taken = slots.take(caller.account, batch_id, slot_owner, caller.is_admin, quota, now, acting.upstream.vouched)
        if taken is not None:
            hold.took_slot(slot_owner)
            return
        ledger = slots.read(caller.account)
        if ledger.strays and not dropped_strays:  # ids a team's set kept without a slot: counted by the take only
            slots.drop_strays(caller.account, ledger.strays)
            dropped_strays = True
            continue
        rule = slot_quota.slot_refusal(ledger.owners_except(batch_id), caller.owner, caller.is_admin, quota)
        if rule is None:
            continue  # a slot came free meanwhile
        if asked_sendgrid:
            break
        agree_with_sendgrid(acting, now)
        asked_sendgrid = True
    ledger = slots.read(caller.account)
    refused_by = rule or slot_quota.SENDGRID_LIMIT
    raise limit_reached(acting, held_slots(acting, ledger, batch_id), now, refused_by)


def agree_with_sendgrid(acting: Acting, now: int) -> None:
    """The ledger says a rule is reached: ask SendGrid's own list before refusing (a lost answer or a change made
    outside the service leaves the table behind) and bring the ledger to it: a slot SendGrid does not hold is given
    back, one it holds is counted. The rows are left to reconcile, which announces each repair as a Drift event
    (this function may not put events on the bus); the account's reconcile is brought forward to now. A stale table
    can never refuse a pause on its own word."""
    caller, store = acting.caller, acting.services.store
    listed_at = acting.services.clock.now()
    answer = acting.upstream.forward("GET", api_path("user", "scheduled_sends"))
    if answer.status != 200:
        return  # SendGrid cannot tell us: the ledger's word stands (SendGrid would refuse at 10 anyway)
    upstream, _ = listed_statuses(answer.body, caller.account)
    ledger = store.slots.read(caller.account)
    if ledger.strays:
        store.slots.drop_strays(caller.account, ledger.strays)
    unlisted = {batch_id: owner for batch_id, owner in ledger.holders.items() if batch_id not in upstream}
    moved = store.slots.give_back_unlisted(caller.account, unlisted, now, listed_at) if unlisted else 0
    missing = [batch_id for batch_id in upstream if batch_id not in ledger.holders]
    if missing:
        rows = {b.batch_id: b for b in store.active(caller.account)}
        owners = {b: rows[b].owner if b in rows else _owner_of(store, caller.account, b) for b in missing}
        moved += store.slots.count_listed(caller.account, owners)
    if moved:
        logger.info(
            "slot check brought the ledger to SendGrid's list", extra={"account": caller.account, "moved": moved}
        )
        acting.recorder.reconcile_now()


def _owner_of(store: BatchStore, account: str, batch_id: str) -> str | None:
    row = store.get(account, batch_id)
    return row.owner if row is not None else None


def held_slots(acting: Acting, ledger: Ledger, batch_id: str) -> list[Batch]:
    """The batches holding the account's slots other than `batch_id`, for a refusal's message: their rows, and a
    change in flight's take as a row of no status."""
    rows = {b.batch_id: b for b in acting.services.store.active(acting.caller.account)}
    return [
        rows.get(held) or Batch(account=ledger.account, batch_id=held, owner=owner)
        for held, owner in ledger.holders.items()
        if held != batch_id
    ]


def sendgrid_refused(acting: Acting, batch_id: str, now: int) -> BadRequest:
    """SendGrid itself answered "max limit reached" though the ledger had room (batches paused outside the
    service): its refusal, with the slots the table knows of."""
    ledger = acting.services.store.slots.read(acting.caller.account)
    return limit_reached(acting, held_slots(acting, ledger, batch_id), now, slot_quota.SENDGRID_LIMIT)


def _which_limit(rule: str, caller: Caller, held: list[Batch], quota: int) -> str:
    """What refused, after SendGrid's own "max limit reached" (which callers match, so it stays first)."""
    limit = slot_quota.MAX_ACTIVE_BATCHES
    if rule == slot_quota.TEAM_QUOTA:
        own = slot_quota.slots_held_by(caller.owner, (b.owner for b in held))
        return (
            f"you hold {own} of the {quota} pause/cancel slots one team may hold in this account "
            f"({len(held)} of SendGrid's {limit} are held; rule: team quota, SlotsPerTeam)"
        )
    if rule == slot_quota.ADMIN_RESERVE:
        return (
            f"{len(held)} of SendGrid's {limit} pause/cancel slots are held in this account and the last slot is "
            "kept for admins (rule: admin reserve, so an emergency stop always fits)"
        )
    if len(held) >= limit:
        return f"{len(held)} of SendGrid's {limit} pause/cancel slots are held in this account (rule: SendGrid's limit)"
    return (
        f"SendGrid refused: all {limit} of its pause/cancel slots are held in this account, {len(held)} of them "
        "known to this service (rule: SendGrid's limit)"
    )


def limit_reached(acting: Acting, held: list[Batch], now: int, rule: str) -> BadRequest:
    """SendGrid's 'max limit reached', saying which rule refused, which slots are held and which the service
    can reclaim."""
    caller = acting.caller
    own = [b for b in held if caller.may_see(b)]
    others = len(held) - len(own)
    slots = [
        {"batch_id": b.batch_id, "status": b.status, "owner": b.owner, "reclaimable": scan_plan.reclaimable(b, now)}
        for b in own
    ]
    named = ", ".join(f"{s['batch_id']} ({s['status']}{', reclaimable' if s['reclaimable'] else ''})" for s in slots)
    message = (
        f"{LIMIT_MESSAGE}: {_which_limit(rule, caller, held, acting.services.config.slots_per_team)}"
        + (f"; visible to you: {named}" if named else "")
        + (f"; {others} held by other teams" if others else "")
        + "; resume (DELETE) or wait for the scanner to reclaim one"
    )
    return BadRequest(message, extra={"rule": rule, "slots": slots, "slots_held_by_others": others})
