"""Repair: the table's rows of one account written as SendGrid's own list shows them, SendGrid being the source of
truth. Used by reconcile (every account in turn) and by a pause's slot check (the table says every slot is held:
SendGrid's list is asked before refusing). A row is repaired only if it is still the version that was read, was not
written since the list (an operation in flight is never undone) and no scanner run holds its lease.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from ..adapters.batches_table import BatchStore
from ..domain import send_windows, validation
from ..domain.batch import ACTIVE_STATUSES, FINISHED_STATUSES, Batch
from ..domain.errors import BadRequest
from ..runtime.observability import logger


@dataclass(frozen=True)
class Repair:
    """One row written to agree with SendGrid (`row`: as written; `before`: the status it had)."""

    row: Batch
    kind: str  # untracked-at-sendgrid | status-differs | missing-at-sendgrid
    sendgrid_status: str | None
    before: str | None


def listed_statuses(body: str, account: str) -> tuple[dict[str, str], int]:
    """SendGrid's list answer as batch_id -> status, and how many entries (slots) it holds."""
    upstream: dict[str, str] = {}
    listed = json.loads(body)
    for entry in listed:
        try:
            upstream[validation.batch_id(entry.get("batch_id"))] = validation.status(entry.get("status"))
        except (BadRequest, AttributeError):
            logger.warning("SendGrid listed an entry we cannot use", extra={"account": account})
    return upstream, len(listed)


def repair_rows(
    store: BatchStore,
    account: str,
    recorded: dict[str, Batch],
    upstream: dict[str, str],
    listed_at: int,
    now: int,
    previous_list_at: Callable[[], int | None] = lambda: None,
) -> list[Repair]:
    """Write the table's rows of `account` as SendGrid listed them at `listed_at`. `recorded` are the rows
    holding a slot, read before the list. A row is repaired only if it is still the version that was read
    and was not written since the list (an operation in flight is never undone), and never while a scanner
    run holds its lease. Finished rows (expired, discarded) SendGrid still lists are left to the scanner.
    A pause or cancel found here is watched as held since the account's previous list (`previous_list_at`,
    read only when needed), not since now: see `send_windows.found_held_since`."""
    repairs: list[Repair] = []

    @cache  # the registry is read at most once, and only if a repair needs it
    def found_since() -> int:
        return send_windows.found_held_since(previous_list_at(), listed_at)

    def repair(batch_id: str, seen: Batch | None, status: str | None, kind: str) -> None:
        def as_listed(base: Batch) -> Batch:
            return base.with_status(status, now, found_since() if status in ACTIVE_STATUSES else None)

        written = edit_as_listed(store, account, batch_id, seen, as_listed, listed_at, now)
        if written is not None:
            repairs.append(Repair(written, kind, status, seen.status if seen else None))

    for batch_id, status in upstream.items():
        row = recorded.get(batch_id) or store.get(account, batch_id)
        if row is not None and (row.status == status or row.status in FINISHED_STATUSES):
            continue
        repair(batch_id, row, status, "untracked-at-sendgrid" if row is None else "status-differs")
    for batch_id, row in recorded.items():
        if batch_id in upstream:
            continue
        if row.status in FINISHED_STATUSES:
            entry_gone(store, row, listed_at, now)
        else:
            repair(batch_id, row, None, "missing-at-sendgrid")
    return repairs


def edit_as_listed(
    store: BatchStore,
    account: str,
    batch_id: str,
    seen: Batch | None,
    edit: Callable[[Batch], Batch],
    listed_at: int,
    now: int,
) -> Batch | None:
    """Write `edit` of a row (`seen`: as it was read, None: there was none) to agree with a list taken at
    `listed_at`, only if it is still that version, was not written since the list (an operation in flight is
    never undone) and no scanner run holds its lease. The row written, or None when it was left alone."""
    if seen is not None and (seen.leased(now) or (seen.updated_at or 0) >= listed_at):
        return None
    written: list[Batch] = []

    def guarded(current: Batch | None) -> Batch | None:
        written.clear()
        if current is None or seen is None:
            changed = (current is None) != (seen is None)
        else:
            changed = current.version != seen.version
        if changed:
            return None  # changed since it was read: the next reconcile looks again
        written.append(edit(current or Batch(account, batch_id, owner=None)))
        return written[0]

    store.change(account, batch_id, guarded, now)
    return written[0] if written else None


def entry_gone(store: BatchStore, row: Batch, listed_at: int, now: int) -> None:
    """A finished batch's entry left at SendGrid is gone (resumed or deleted outside the service, or reclaimed
    by the scanner): its slot is free. The row's own status was right all along, so this is no drift."""
    if edit_as_listed(store, row.account, row.batch_id, row, _with_entry(False), listed_at, now) is not None:
        logger.info("a finished batch's entry is gone from SendGrid: its slot is free", extra=_where(row))


def entry_still_listed(store: BatchStore, row: Batch, listed_at: int, now: int) -> None:
    """SlotReclaim=notify: a finished batch SendGrid still lists (finished before its row could say so) takes
    a slot until someone deletes the entry, so its row counts it."""
    if edit_as_listed(store, row.account, row.batch_id, row, _with_entry(True), listed_at, now) is not None:
        logger.info("a finished batch's entry is still at SendGrid: its slot is counted", extra=_where(row))


def _with_entry(left: bool) -> Callable[[Batch], Batch]:
    return lambda batch: replace(batch, entry_left=left)


def _where(row: Batch) -> dict[str, str]:
    return {"batch_id": row.batch_id, "account": row.account, "status": str(row.status)}


def agree_ledger(store: BatchStore, account: str, now: int, listed_at: int, holding: list[Batch] | None = None) -> int:
    """The account's slot ledger written as its rows hold slots, after the rows were repaired from SendGrid's list:
    a take no row holds and no change holds the row for (its change died, or SendGrid never applied it) is given
    back, a row holding a slot the ledger misses is counted, and a team's set is cleared of ids no slot is held for.
    Each move is checked on its row in the same transaction, so a change in flight is never undone, nor one whose
    outcome is unknown and may have come after SendGrid's list was read (`listed_at`). `holding`: the account's rows
    holding a slot, when just read. Returns how many entries moved."""
    rows = {b.batch_id: b for b in (store.active(account) if holding is None else holding)}
    ledger = store.slots.read(account)
    unheld = {batch_id: owner for batch_id, owner in ledger.holders.items() if batch_id not in rows}
    moved = store.slots.give_back_unheld(account, unheld, now, listed_at) if unheld else 0
    missing = {b: row.owner for b, row in rows.items() if b not in ledger.holders}
    moved += store.slots.count_held(account, missing) if missing else 0
    for batch_id, row in rows.items():  # counted under another owner (a batch claimed while it held its slot)
        if batch_id in ledger.holders and ledger.holders[batch_id] != row.owner:
            moved += store.slots.recount_owner(account, batch_id, ledger.holders[batch_id], row.owner)
    moved += store.slots.drop_strays(account, ledger.strays) if ledger.strays else 0
    if moved:
        logger.info("the slot ledger was brought to agree with the rows", extra={"account": account, "moved": moved})
    return moved
