"""A change's hold on its batch (`domain.leases`): one conditional write before SendGrid is called leases the row
and checks, in its conditions, who may act on the batch and that the change window is open; the row is read only
to explain a refusal (403, 400, or 409 while someone else holds it). The hold is given up with the record of the
outcome (`Recorder.record_change` clears it in the same write) or released when nothing changed, giving back the
slot the change took when SendGrid refused it."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ..adapters.batches_table import UNREAD
from ..adapters.slot_ledger import take_update
from ..domain import commands, leases, send_windows
from ..domain.batch import Batch
from ..domain.changes import iso_time
from ..domain.errors import BadRequest, Conflict
from .acting import Acting

_ATTEMPTS = 3  # a row changing under the hold this often is answered 409


class Hold:
    """The batch's row as leased to this change (a row holding only the lease when the table had none), its lease
    owner, and the slot the change took (its owner), if it took one."""

    def __init__(self, acting: Acting, row: Batch, owner: str, projected: bool = False) -> None:
        self._acting, self.row, self.owner = acting, row, owner
        # Held with the slot in one transaction (`hold_taking_slot`): `row` is only what its conditions checked (no
        # status; the caller's or nobody's) and the change is recorded from the row's projection.
        self.projected = projected
        self.settled = False  # the lease was given up
        self.slot_taken = False
        self.slot_owner: str | None = None

    def took_slot(self, slot_owner: str | None) -> None:
        self.slot_taken, self.slot_owner = True, slot_owner

    def record_change(
        self, batch_id: str, operation: str, status: str | None, edit: Callable[[Batch], Batch], now: int
    ) -> Batch | None:
        """Record the change SendGrid applied, from the row as leased, giving the lease up in the same write (and
        moving the batch's slot in the account's ledger, when it starts or stops holding one)."""
        written = self._acting.recorder.record_change(
            batch_id,
            operation,
            status,
            edit,
            now,
            self._acting.upstream.region,
            UNREAD if self.projected else self.row,
            lease_owner=self.owner,
            projected=self.projected,
        )
        self.settled = self.settled or written is not None
        return written

    def release(self, give_back: bool = False) -> None:
        """Give the lease up without a change (SendGrid refused, the request failed, the record failed); with
        `give_back`, SendGrid certainly holds no slot for this change, so the slot it took is given back."""
        if self.settled:
            return
        self.settled = True
        store, row = self._acting.services.store, self.row
        given_back = give_back and self.slot_taken and not row.holds_slot
        if given_back and store.release_giving_back(row.account, row.batch_id, self.owner, self.slot_owner):
            return
        # A slot kept without a known outcome (also on a row already holding one: SendGrid may have dropped that
        # status since): a list of SendGrid's read before this lease's end cannot tell its slot is free.
        unsettled_until = row.lease_until if self.slot_taken else None
        store.release(row.account, row.batch_id, self.owner, unsettled_until)


def hold_taking_slot(acting: Acting, command: commands.ChangeStatus, now: int) -> Hold | None:
    """A team's pause or cancel of its batch of no status that states no send times and no expiry action: its hold
    and its slot in one transaction (`BatchStore.hold_taking_slot`, under the conditions of `hold_batch` and of
    `slot_check.take_slot`), recorded after SendGrid from the row's projection: two DynamoDB calls in all. None
    when it does not apply or a condition did not hold: `hold_batch` and `take_slot` then say which."""
    caller, store = acting.caller, acting.services.store
    if caller.is_admin or command.states_expiry_action or command.times != commands.SendTimes():
        return None  # an admin's slot is counted under the batch's owner, which only the row knows
    acting.upstream.ready()  # an unknown subuser is refused (400) before anything is written for it
    owner, until = _change_lease(acting, now)
    config = acting.services.config
    take = take_update(
        caller.account, command.batch_id, caller.owner, False, config.slots_per_team, now, acting.upstream.vouched
    )
    taken = store.hold_taking_slot(
        caller.account,
        command.batch_id,
        owner,
        now,
        until,
        owned_by=caller.owner,
        claimable=caller.claims_unknown_batches,
        window_from=now + send_windows.CHANGE_WINDOW_SECONDS,
        take=take,
    )
    if not taken:
        return None
    row = Batch(caller.account, command.batch_id, caller.owner, lease_owner=owner, lease_until=until)
    hold = Hold(acting, row, owner, projected=True)
    hold.took_slot(caller.owner)
    return hold


def _change_lease(acting: Acting, now: int) -> tuple[str, int]:
    """A change's lease: its owner (`leases.change_owner`) and its end."""
    owner = leases.change_owner(acting.recorder.request_id, uuid.uuid4().hex[:12])
    return owner, now + leases.CHANGE_LEASE_SECONDS


def hold_batch(acting: Acting, batch_id: str, times: commands.SendTimes | None, now: int) -> Hold:
    """Lease the batch's row for this change, checking who may act on it and (with `times`, for a pause, cancel or
    PATCH) that the change window is open, in one conditional write. 403, 400 or 409 (`leases.busy`) otherwise."""
    caller, store = acting.caller, acting.services.store
    acting.upstream.ready()  # an unknown subuser is refused (400) before anything is written for it
    owner, until = _change_lease(acting, now)
    held = store.hold(
        caller.account,
        batch_id,
        owner,
        now,
        until,
        owned_by=None if caller.is_admin else caller.owner,
        claimable=caller.claims_unknown_batches,
        window_from=None if times is None else now + send_windows.CHANGE_WINDOW_SECONDS,
    )
    for _ in range(_ATTEMPTS):
        if held is not None:
            break
        held = _explained(acting, batch_id, times, owner, now, until)
    if held is None:
        raise Conflict(
            f"batch id {batch_id} kept changing while this change tried to hold it; nothing was sent to SendGrid, "
            "try again",
            field="batch_id",
            headers={"Retry-After": "1"},
        )
    hold = Hold(acting, held, owner)
    if times is not None:
        try:
            check_windows(held, times, now)  # the stated send_at (the recorded one was a condition of the hold)
        except BadRequest:
            hold.release()
            raise
    return hold


def _explained(
    acting: Acting, batch_id: str, times: commands.SendTimes | None, owner: str, now: int, until: int
) -> Batch | None:
    """The hold's conditions refused: read the row and say why (403 who may act, 400 the window, 409 someone holds
    it), in the order the operations always answered; or, when none applies (a batch the table has no row for, an
    owner recorded in another form, a row that changed meanwhile), hold it as read. None: it changed again."""
    caller, store = acting.caller, acting.services.store
    row = caller.authorize(batch_id, store.get(caller.account, batch_id))
    if times is not None:
        check_windows(row, times, now)
    if row is None:
        return store.hold_new(caller.account, batch_id, owner, now, until)
    if row.leased(now) and row.lease_owner != owner:
        raise leases.busy(row, now)
    return store.hold(caller.account, batch_id, owner, now, until, version=row.version)


def _check_window(send_at: int | None, now: int) -> None:
    if not send_windows.change_window_open(send_at, now):
        assert send_at is not None
        raise BadRequest(
            f"too late to pause or cancel: the window closed at {iso_time(send_windows.window_closes_at(send_at))}, "
            f"10 minutes before send_at {iso_time(send_at)}; SendGrid does not guarantee a change after that",
            field="send_at",
        )


def check_windows(row: Batch | None, times: commands.SendTimes, now: int) -> None:
    """A status change must come before the 10-minute window of the batch's send_at closes; a restated later
    send_at cannot reopen a window the recorded one has closed (SendGrid may already be sending)."""
    recorded = row.send_at if row else None
    if send_windows.restated_send_at_reopens_window(recorded, times.send_at, now):
        assert recorded is not None
        raise BadRequest(
            f"too late to pause or cancel: send_at is recorded as {iso_time(recorded)} and its window closed at "
            f"{iso_time(send_windows.window_closes_at(recorded))}; a correction that moves send_at later is "
            "accepted only while the recorded window is open, because SendGrid may already be sending",
            field="send_at",
        )
    _check_window(times.earliest(row), now)
