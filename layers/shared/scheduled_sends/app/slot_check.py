"""Where a pause's or cancel's slot is counted: SendGrid's 10 slots per account, the team quota and the admin
reserve (`domain.slot_quota`), judged on the rows holding the account's slots. The table's word alone never
refuses: when it says every slot is held, SendGrid's own list is read and the rows it shows wrong repaired first.
A refusal is SendGrid's "max limit reached", saying which rule refused and which slots are held."""

from __future__ import annotations

from ..adapters.sendgrid.client import api_path
from ..domain import scan_plan, slot_quota
from ..domain.batch import Batch
from ..domain.errors import BadRequest
from ..runtime.observability import logger
from .acting import Acting
from .caller import Caller
from .repair import listed_statuses, repair_rows

LIMIT_MESSAGE = "max limit reached"


def held_per_sendgrid(acting: Acting, batch_id: str, held: list[Batch], now: int) -> list[Batch]:
    """The table says every slot is held: ask SendGrid's own list before refusing (a lost answer or a change
    made outside the service leaves the table behind), repair the rows it shows wrong, and return what holds
    the account's slots now. A stale table can never refuse a pause on its own word."""
    caller, store = acting.caller, acting.services.store
    listed_at = acting.services.clock.now()
    answer = acting.upstream.forward("GET", api_path("user", "scheduled_sends"))
    if answer.status != 200:
        return held  # SendGrid cannot tell us: the table's word stands (SendGrid would refuse at 10 anyway)
    upstream, _ = listed_statuses(answer.body, caller.account)
    recorded = {b.batch_id: b for b in held}
    for fixed in repair_rows(store, caller.account, recorded, upstream, listed_at, now):
        logger.info(
            "slot check repaired a row from SendGrid's list",
            extra={"batch_id": fixed.row.batch_id, "kind": fixed.kind, "status": fixed.sendgrid_status},
        )
    return [b for b in store.active(caller.account) if b.batch_id != batch_id and b.batch_id in upstream]


def slot_refusal(acting: Acting, held: list[Batch]) -> str | None:
    """Where a pause's slot is counted: the rule that refuses it one more slot of the account's, or None."""
    caller = acting.caller
    quota = acting.services.config.slots_per_team
    return slot_quota.slot_refusal((b.owner for b in held), caller.owner, caller.is_admin, quota)


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
