"""The batches table: one row per batch the service knows, keyed by account and batch_id.

Two sparse indexes keep the scanner's and the limit check's reads proportional to what matters:
- `due`: rows the scanner must act on, partition `due_shard` (spread over N shards), sort `due_at`;
- `active`: rows holding one of SendGrid's 10 slots (paused or cancelled, or finished with SendGrid's entry left
  in place: `entry_left`), partition `active_account`;
- `by_status`: every batch row, partition `status_key` (its status, `none` for no status), sort `expiry_order`
  (its expiry, then account and batch id): the admin routes' listing across accounts, soonest expiry first, and the
  scanner's at-risk gauges (docs/design/decisions/0006-change-history.md).
Every write is conditional on the row's `version` (optimistic concurrency). A row keeps its last
`HISTORY_LIMIT` changes made through the API (`history`, newest first) for the on-call view.

A change made through the API is recorded with the status it set (`Batch.change`: the `change_*` attributes, kept
until the next one) and the write that records it alone carries `change_event` (its event id): every other write,
the scanner's included, removes that marker, so the table's stream shows each change exactly once to the
template's `ChangeEventsPipe`, whose filter passes only records that carry it.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from ..domain import changes, projection
from ..domain.batch import Batch
from ..domain.changes import Change
from ..domain.ops_view import HISTORY_LIMIT, UNKNOWN_EXPIRY, expiry_order, expiry_upper_bound
from ..domain.ownership import owner_of
from ..domain.scan_plan import next_due
from ..domain.send_windows import EXPIRY_SECONDS
from ..runtime.container import Container, singleton
from ..runtime.settings import settings
from .dynamodb import conditional_failed, optional_int, pages
from .dynamodb import table as dynamodb_table
from .slot_ledger import UNSETTLED_UNTIL, SlotLedger, entry_moves

DUE_INDEX = "due"
ACTIVE_INDEX = "active"
STATUS_INDEX = "by_status"
_LOWEST_ORDER = "0"  # below every expiry_order (they start with a digit or `~`)
_HIGHEST_ORDER = UNKNOWN_EXPIRY + UNKNOWN_EXPIRY  # above every expiry_order, unknown expiries included
ROW_RETENTION_SECONDS = 7 * 24 * 3600  # rows outlive expiry by a week, then DynamoDB TTL removes them
_MAX_ATTEMPTS = 5
_UNRECORDED_HOLD_RETENTION_SECONDS = 24 * 3600  # a lease row whose change was never recorded
UNREAD = object()  # `change` without a row the caller already holds
# Only on the write that records a change made through the API: what the change-events pipe's filter passes.
CHANGE_EVENT = "change_event"
# What a pause or cancel recorded without reading the row copies (`domain.projection`): on rows of no status.
PROJECTION = "if_held"
# The row's own attributes a projection is made from: it carries their values, and is used only while they hold.
_PROJECTED_FROM = ("send_at", "last_send_at", "expiry_action")
_CANCELLED = ("TransactionCanceledException", "TransactionConflictException")
# The record of the last change made through the API (what its event says).
CHANGE_ATTRIBUTES = (
    "change_id",
    "change_type",
    "changed_by",
    "change_caller",
    "change_request_id",
    "changed_at",
    "change_time",
    "previous_status",
    "change_status",
    "change_owner",
    "change_on_behalf_of",
    "change_region",
)


@functools.lru_cache(maxsize=256)  # a few dozen shapes occur; the bound only guards memory
def _update_expression(keys: tuple[str, ...], absent: tuple[bool, ...]) -> tuple[str, dict[str, str]]:
    """A row write's UpdateExpression and attribute names: every key set, or removed where it is `absent` (a
    sparse index's key, an attribute left empty). A write has one of a few such shapes, made once each."""
    set_parts = [f"#{key} = :{key}" for key, gone in zip(keys, absent, strict=True) if not gone]
    set_parts.append("#created_at = if_not_exists(#created_at, :now)")
    remove_parts = [f"#{key}" for key, gone in zip(keys, absent, strict=True) if gone]
    expression = "SET " + ", ".join(set_parts) + (" REMOVE " + ", ".join(remove_parts) if remove_parts else "")
    return expression, {f"#{key}": key for key in keys} | {"#created_at": "created_at"}


class ConcurrentChange(Exception):
    """A conditional write lost to another writer more times than we retry."""


def batch_from_item(item: dict[str, Any]) -> Batch:
    """A row of the batches table as the domain's `Batch` (the local console reads rows with this too)."""
    return Batch(
        account=item["account"],
        batch_id=item["batch_id"],
        owner=item.get("owner"),
        status=item.get("status"),
        send_at=optional_int(item.get("send_at")),
        expiry_action=item.get("expiry_action"),
        warned=tuple(sorted(int(t) for t in item.get("warned", ()))),
        action_taken=item.get("action_taken"),
        status_at=optional_int(item.get("status_at")),
        version=int(item.get("version", 0)),
        last_send_at=optional_int(item.get("last_send_at")),
        held_since=optional_int(item.get("held_since")),
        updated_at=optional_int(item.get("updated_at")),
        lease_owner=item.get("lease_owner"),
        lease_until=optional_int(item.get("lease_until")),
        action_started_at=optional_int(item.get("action_started_at")),
        change=_to_change(item),
        retry_at=optional_int(item.get("retry_at")),
        entry_left=bool(item.get("entry_left", False)),
        history=_to_history(item),
    )


def _history_entry(change: Change) -> dict[str, Any]:
    """One change of a row's `history`, under the same names as the row's record of its last change."""
    return {name: value for name, value in _change_attributes(change).items() if name != "change_time"}


def _to_history(item: dict[str, Any]) -> tuple[Change, ...]:
    """The row's recorded changes, newest first; a row written before `history` existed shows its last one."""
    entries = item.get("history")
    if entries is None:
        change = _to_change(item)
        return () if change is None else (change,)
    # A record written without reading the row appends to it unbounded; the row's next write bounds it again.
    return tuple(change for entry in entries if (change := _to_change(entry)) is not None)[:HISTORY_LIMIT]


def _history_after(new: Batch, previous: Batch | None) -> tuple[Change, ...]:
    """The row's history once this write is made: a write announcing a change puts it first (bounded)."""
    if not _announces(new, previous) or new.change is None:
        return new.history
    older = tuple(change for change in new.history if change.event_id != new.change.event_id)
    return (new.change, *older)[:HISTORY_LIMIT]


def _change_attributes(change: Change | None) -> dict[str, Any]:
    """The row's record of the last change, each attribute exactly as the change's event carries it (the pipe's
    input template copies them: strings, "" or "none" for nothing, never null)."""
    if change is None:
        return dict.fromkeys(CHANGE_ATTRIBUTES)
    return {
        "change_id": change.event_id,
        "change_type": change.detail_type,
        "changed_by": change.changed_by,
        "change_caller": change.caller,
        "change_request_id": change.request_id,
        "changed_at": change.changed_at,
        "change_time": changes.iso_time(change.changed_at),
        "previous_status": changes.status_name(change.previous_status),
        "change_status": changes.status_name(change.status),
        "change_owner": change.owner or "",
        "change_on_behalf_of": change.on_behalf_of or "",
        "change_region": change.region,
    }


def _to_change(item: dict[str, Any]) -> Change | None:
    if "change_id" not in item:
        return None
    return Change(
        event_id=item["change_id"],
        detail_type=item["change_type"],
        changed_by=item["changed_by"],
        caller=item["change_caller"],
        request_id=item["change_request_id"],
        changed_at=int(item["changed_at"]),
        previous_status=changes.status_of(item["previous_status"]),
        status=changes.status_of(item["change_status"]),
        owner=item["change_owner"] or None,
        on_behalf_of=item["change_on_behalf_of"] or None,
        region=item["change_region"],
    )


@dataclass(frozen=True)
class DueBatches:
    """The rows due now, and how many items DynamoDB read to find them (the scanner reports its cost)."""

    batches: list[Batch]
    items_read: int


class BatchStore:
    def __init__(
        self, table: Any, due_shards: int, thresholds: tuple[int, ...], action_lead: int, release: str = "unknown"
    ) -> None:
        self._table = table
        self.slots = SlotLedger(table)  # the accounts' slot ledgers, on the same table
        self._due_shards = due_shards
        self._thresholds = thresholds
        self._action_lead = action_lead
        self._plan = projection.plan_key(thresholds, action_lead, release)

    # -- reading ---------------------------------------------------------------------------------
    def get(self, account: str, batch_id: str) -> Batch | None:
        item = self._table.get_item(Key={"account": account, "batch_id": batch_id}, ConsistentRead=True).get("Item")
        return batch_from_item(item) if item else None

    def active(self, account: str) -> list[Batch]:
        """Rows holding a SendGrid slot for the account (the sparse `active` index)."""
        return [
            batch_from_item(item)
            for page in pages(
                self._table.query,
                IndexName=ACTIVE_INDEX,
                # Written out, not Key(...).eq(...): boto3's expression builder costs 4 µs of the request's own
                # time, and every pause reads this index.
                KeyConditionExpression="#active_account = :account",
                ExpressionAttributeNames={"#active_account": "active_account"},
                ExpressionAttributeValues={":account": account},
            )
            for item in page.get("Items", ())
        ]

    def due(self, now: int) -> DueBatches:
        """Every row whose next action time has come, oldest first across all shards (merged): a run that stops
        early has done the longest-waiting rows, whichever shard they hash to."""
        found: list[tuple[int, Batch]] = []
        items_read = 0
        for shard in range(self._due_shards):
            condition = Key("due_shard").eq(f"due#{shard}") & Key("due_at").lte(now)
            for page in pages(self._table.query, IndexName=DUE_INDEX, KeyConditionExpression=condition):
                items_read += int(page.get("ScannedCount", len(page.get("Items", ()))))
                found.extend((int(item["due_at"]), batch_from_item(item)) for item in page.get("Items", ()))
        found.sort(key=lambda pair: pair[0])
        return DueBatches([batch for _, batch in found], items_read)

    # -- writing ---------------------------------------------------------------------------------

    def change(
        self,
        account: str,
        batch_id: str,
        edit: Callable[[Batch | None], Batch | None],
        now: int,
        current: Batch | object | None = UNREAD,
        slots_with_row: bool = False,
    ) -> Batch | None:
        """Read-modify-write with optimistic concurrency: `edit` gets the latest row (None when there is none)
        and returns the new one (None to leave it); a lost race re-reads and edits again. A caller that has
        just read the row passes it as `current` to save the read (a stale one only costs a retry).

        A write that starts or stops the row's holding a slot moves its entry in the account's ledger: with
        `slots_with_row`, in the row's own transaction (an operation's record: one round trip); otherwise in its
        own write, added before the row's and removed after it, so a write that fails between the two leaves the
        ledger counting one slot too many, never one too few (`repair.agree_ledger` gives it back)."""
        for _ in range(_MAX_ATTEMPTS):
            if current is UNREAD:
                current = self.get(account, batch_id)
            assert current is None or isinstance(current, Batch)
            wanted = edit(current)
            if wanted is None:
                return current
            try:
                return self._write(wanted, current, self._next_due(wanted), now, slots_with_row)
            except ClientError as error:
                if not conditional_failed(error):
                    raise
                current = UNREAD
        raise ConcurrentChange(f"batch {batch_id} kept changing under us")

    def accounts_holding(self, batch_id: str, accounts: list[str]) -> list[str]:
        """Which of `accounts` have a row for `batch_id` (one BatchGetItem per 100 accounts)."""
        keys = [{"account": account, "batch_id": batch_id} for account in accounts]
        return sorted(item["account"] for item in self._table.existing_keys(keys))

    def by_expiry(
        self,
        status: str,
        *,
        after: str | None = None,
        until: int | None = None,
        account: str | None = None,
        owner: str | None = None,
        page_size: int = 100,
    ) -> Iterator[tuple[str, Batch]]:
        """Rows of one status (`none`: no status) in the `by_status` index's order, soonest expiry first and
        unknown expiries last, each with its sort key: after the sort key `after` (exclusive), expiring at `until`
        or before (unknown expiries then excluded), of one account and one owner when given (filters evaluated by
        DynamoDB: a page read may hold fewer rows). Read page by page as the caller consumes them."""
        low = after or _LOWEST_ORDER
        high = _HIGHEST_ORDER if until is None else expiry_upper_bound(until)
        if low > high:
            return
        names = {"#status_key": "status_key", "#expiry_order": "expiry_order"}
        values: dict[str, Any] = {":status": status, ":low": low, ":high": high}
        filters = []
        if account is not None:
            names["#account"], values[":account"] = "account", account
            filters.append("#account = :account")
        if owner is not None:
            names["#owner"], values[":owner"] = "owner", owner_of(owner)
            filters.append("#owner = :owner")
        query: dict[str, Any] = {
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#status_key = :status AND #expiry_order BETWEEN :low AND :high",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "Limit": page_size,
        }
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        for page in pages(self._table.query, **query):
            for item in page.get("Items", ()):
                if item["expiry_order"] != after:  # BETWEEN includes the position itself
                    yield item["expiry_order"], batch_from_item(item)

    def _write(
        self, batch: Batch, previous: Batch | None, due_at: int | None, now: int, slots_with_row: bool = False
    ) -> Batch:
        new = replace(batch, version=(previous.version if previous else 0) + 1, updated_at=now)
        new = replace(new, history=_history_after(new, previous))
        values = self._row_values(new, now)
        values |= {
            "due_shard": self._shard(new) if due_at is not None else None,
            "send_at": new.send_at,
            "expiry_action": new.expiry_action,
            "last_send_at": new.last_send_at,
            "version": new.version,
            "due_at": due_at,
            "expires_at": new.expires_at,
            "expiry_order": expiry_order(new.expires_at, new.account, new.batch_id),
            "history": [_history_entry(change) for change in new.history] or None,
            # The change this write records, if it records a new one; every other write removes the marker.
            CHANGE_EVENT: new.change.event_id if new.change is not None and _announces(new, previous) else None,
            PROJECTION: self._projection(new, now),
        }
        expression, names = _update_expression(tuple(values), tuple(value is None for value in values.values()))
        attribute_values = {f":{k}": v for k, v in values.items() if v is not None} | {":now": now}
        if previous is None:
            condition = "attribute_not_exists(#version)"
        else:
            condition = "#version = :expected"
            attribute_values[":expected"] = previous.version
        row_write = {
            "Key": {"account": new.account, "batch_id": new.batch_id},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": dict(names),
            "ExpressionAttributeValues": attribute_values,
        }
        before, after = _slot_of(previous), _slot_of(new)
        moves = entry_moves(new.account, new.batch_id, before, after)
        if moves is None:
            self._table.update_item(**row_write)
        elif slots_with_row:  # the row starts or stops holding a slot: the account's ledger follows with it
            self._table.transact_write(("Update", row_write), ("Update", moves))
        elif after is not False:  # counted before the row says it holds one: a failure between overcounts
            self._table.update_item(**moves)
            self._table.update_item(**row_write)
        else:
            self._table.update_item(**row_write)
            if before is not False and not isinstance(before, bool):
                self.slots.give_back_after_write(new.account, new.batch_id, before, new.lease_owner, now)
            else:  # an owner's set changes while the batch keeps its slot
                self._table.update_item(**moves)
        return new

    def _row_values(self, new: Batch, now: int) -> dict[str, Any]:
        """The attributes a write of `new` sets (None: removes) that the row's send times, expiry action, version,
        history and due time do not decide; every write sets these from the row it makes."""
        return {
            "owner": new.owner,
            "status": new.status,
            "warned": set(new.warned) or None,
            "action_taken": new.action_taken,
            "status_at": new.status_at,
            "held_since": new.held_since,
            "lease_owner": new.lease_owner,
            "lease_until": new.lease_until,
            "action_started_at": new.action_started_at,
            "retry_at": new.retry_at,
            "entry_left": True if new.entry_left else None,  # sparse: only while a finished entry is left
            "updated_at": now,
            "active_account": new.account if new.holds_slot else None,
            "ttl": _expires_from_the_table_at(new),
            "status_key": changes.status_name(new.status),
            **_change_attributes(new.change),
        }

    def _projection(self, batch: Batch, now: int) -> dict[str, Any] | None:
        """The row's projection (`domain.projection`) as the row keeps it: what a pause or cancel recorded without
        reading the row copies."""
        made = projection.project(batch, self._thresholds, self._action_lead, now)
        if made is None:
            return None
        item: dict[str, Any] = {"plan": self._plan}
        for status, due in made.due.items():
            item[f"due_{status}"] = due.time
            if not due.from_expiry:
                item[f"base_{status}"] = 0  # a fixed time: the record adds nothing to it
        item |= {name: value for name in _PROJECTED_FROM if (value := getattr(batch, name)) is not None}
        if made.expires_at is not None:
            item["expires_at"] = made.expires_at
            item["expiry_order"] = expiry_order(made.expires_at, batch.account, batch.batch_id)
        return item

    def _next_due(self, batch: Batch) -> int | None:
        """Every write places the row in the `due` index at its next action time (or takes it out)."""
        return next_due(batch, self._thresholds, self._action_lead)

    def _shard(self, batch: Batch) -> str:
        return f"due#{zlib.crc32(f'{batch.account}/{batch.batch_id}'.encode()) % self._due_shards}"

    # -- leases: one short hold on a batch row, taken by a conditional write, for every change --------------
    # The scanner's runs and the operations' changes (pause/cancel, PATCH, DELETE) take the same lease before
    # SendGrid is called: no live lease by anyone else. The holder's writes are conditional on the version it
    # holds; it gives the lease up with its record of the outcome, or by `release` when nothing changed.
    # A lease left by a crash simply expires (`lease_until`).

    def take_lease(self, batch: Batch, owner: str, now: int, until: int) -> Batch | None:
        """The scanner's lease: the row, now leased to `owner` until `until`, if it still has the status it was
        read with and no one else holds a live lease on it; None otherwise. The condition is evaluated on the item
        as it is (strongly consistent), whatever index the row was found through. The row moves in the due index
        to `until`, so if this run dies the row is due again when the lease ends."""
        leased = replace(batch, lease_owner=owner, lease_until=until)
        return self._updated_row(
            _lease_update(
                batch.account,
                batch.batch_id,
                owner,
                now,
                until,
                extra_set=", #due_at = :until, #due_shard = :shard",
                extra_condition=" AND #status = :status",
                extra_names={"#due_at": "due_at", "#due_shard": "due_shard", "#status": "status"},
                extra_values={":shard": self._shard(leased), ":status": batch.status},
            )
        )

    def hold(
        self,
        account: str,
        batch_id: str,
        owner: str,
        now: int,
        until: int,
        *,
        owned_by: str | None = None,
        claimable: bool = False,
        window_from: int | None = None,
        version: int | None = None,
    ) -> Batch | None:
        """A change's lease: the row, now leased to `owner` until `until` (as written: no separate read), when it
        exists, no one else holds a live lease on it and, as its conditions check in the same write: it is owned by
        `owned_by` (unless None: an admin; `claimable`: or by nobody), its recorded send_at is at `window_from` or
        later (the change window is open), it is still `version` (when given). None otherwise (`get` says why)."""
        return self._updated_row(
            _hold_update(account, batch_id, owner, now, until, owned_by, claimable, window_from, version=version)
        )

    def hold_taking_slot(
        self,
        account: str,
        batch_id: str,
        owner: str,
        now: int,
        until: int,
        *,
        owned_by: str,
        claimable: bool,
        window_from: int,
        take: dict[str, Any],
    ) -> bool:
        """A team's pause or cancel: its hold (`hold`'s conditions, on a row of no status) and its slot (`take`, the
        ledger's conditional update: `slot_ledger.take_update`) in one transaction. DynamoDB returns no item from a
        transaction: the change is recorded from the row's projection (`record_projected`). False when a condition
        of either did not hold (the hold and the take, each alone, then say which)."""
        lease = _hold_update(account, batch_id, owner, now, until, owned_by, claimable, window_from, no_status=True)
        try:
            self._table.transact_write(("Update", lease), ("Update", take))
        except ClientError as error:
            # Cancelled for any reason (a condition, a conflict, throttling, which botocore does not retry in a
            # transaction): nothing was written, and the separate writes, each retried as usual, take over.
            if error.response.get("Error", {}).get("Code") in _CANCELLED:
                return False
            raise
        return True

    def record_projected(self, new: Batch, lease_owner: str, now: int) -> Batch | None:
        """Record a pause or cancel on a row that held no status, without reading it, in one conditional write that
        gives up `lease_owner`'s lease: `new` is the held row as far as the record knows it (`projection.held` of a
        row of no send times and no expiry action, with its change); the row keeps its own send times and expiry
        action, and its expiry, listing order and due time come from its projection (`domain.projection`), or for
        an expiry counted from the change, from `new`. `now`: when this write is made (the row's `updated_at`). The
        row written, or None when it no longer fits (a status set or an owner claimed since, send times or expiry
        action other than the projection's, no projection for this status, plan or release, the lease gone): record
        it from the row then."""
        assert new.status is not None and new.change is not None
        values = self._row_values(new, now)
        sets = [f"#{key} = :{key}" for key, value in values.items() if value is not None]
        removes = [f"#{key}" for key, value in values.items() if value is None]
        names = {f"#{key}": key for key in values}
        sets += [
            "#expires_at = if_not_exists(#if_held.#expires_at, :expires_now)",
            "#expiry_order = if_not_exists(#if_held.#expiry_order, :order_now)",
            "#due_at = #if_held.#due + if_not_exists(#if_held.#base, :expires_now)",
            "#due_shard = :due_shard",
            "#history = list_append(:entry, if_not_exists(#history, :no_history))",
            "#created_at = if_not_exists(#created_at, :now)",
            f"#{CHANGE_EVENT} = :event",
        ]
        names |= {
            "#if_held": PROJECTION,
            "#expires_at": "expires_at",
            "#expiry_order": "expiry_order",
            "#due": f"due_{new.status}",
            "#base": f"base_{new.status}",
            **{f"#{name}": name for name in _PROJECTED_FROM},
            "#due_at": "due_at",
            "#due_shard": "due_shard",
            "#history": "history",
            "#created_at": "created_at",
            f"#{CHANGE_EVENT}": CHANGE_EVENT,
            "#version": "version",
            "#plan": "plan",
        }
        return self._updated_row(
            {
                "Key": {"account": new.account, "batch_id": new.batch_id},
                "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes) + " ADD #version :one",
                "ConditionExpression": (
                    "#lease_owner = :lease AND attribute_not_exists(#status) AND #if_held.#plan = :plan"
                    " AND attribute_exists(#if_held.#due) AND (attribute_not_exists(#owner) OR #owner = :owner)"
                    + "".join(
                        f" AND ((attribute_not_exists(#{name}) AND attribute_not_exists(#if_held.#{name}))"
                        f" OR #{name} = #if_held.#{name})"
                        for name in _PROJECTED_FROM
                    )
                ),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {f":{key}": value for key, value in values.items() if value is not None}
                | {
                    ":lease": lease_owner,
                    ":plan": self._plan,
                    ":expires_now": new.expires_at,
                    ":order_now": expiry_order(new.expires_at, new.account, new.batch_id),
                    ":due_shard": self._shard(new),
                    ":entry": [_history_entry(new.change)],
                    ":no_history": [],
                    ":now": now,
                    ":event": new.change.event_id,
                    ":one": 1,
                },
            }
        )

    def hold_new(self, account: str, batch_id: str, owner: str, now: int, until: int) -> Batch | None:
        """A change's lease on a batch the table has no row for (an admin's, or a claim): a row holding only the
        lease, which DynamoDB removes within a day unless the change's record makes it a batch's row. None when a
        row exists by now."""
        return self._updated_row(
            {
                "Key": {"account": account, "batch_id": batch_id},
                "UpdateExpression": (
                    "SET #lease_owner = :owner, #lease_until = :until, #ttl = :ttl,"
                    " #created_at = if_not_exists(#created_at, :now) ADD #version :one"
                ),
                "ConditionExpression": "attribute_not_exists(#version)",
                "ExpressionAttributeNames": {
                    "#lease_owner": "lease_owner",
                    "#lease_until": "lease_until",
                    "#ttl": "ttl",
                    "#created_at": "created_at",
                    "#version": "version",
                },
                "ExpressionAttributeValues": {
                    ":owner": owner,
                    ":until": until,
                    ":ttl": now + _UNRECORDED_HOLD_RETENTION_SECONDS,
                    ":now": now,
                    ":one": 1,
                },
            }
        )

    def release(self, account: str, batch_id: str, owner: str, unsettled_until: int | None = None) -> None:
        """Give up `owner`'s lease without a change (SendGrid refused, or the request failed). The version moves,
        so no writer holding an older read can write the lease back. `unsettled_until`: the change kept a slot it
        took though its outcome is unknown; until then (its lease's end: no request outlives it) a list of
        SendGrid's may predate the change, so reconcile keeps the slot (`SlotLedger.give_back_unheld`)."""
        try:
            self._table.update_item(**_release_write(account, batch_id, owner, unsettled_until))
        except ClientError as error:
            if not conditional_failed(error):
                raise

    def release_giving_back(self, account: str, batch_id: str, owner: str, slot_owner: str | None) -> bool:
        """Release `owner`'s lease and give back the slot its change took (owned by `slot_owner`), in one
        transaction, when the row is still leased to it and holds no slot (SendGrid refused the change)."""
        release = _release_write(account, batch_id, owner, holding_none=True)
        return self.slots.give_back_with_release(account, batch_id, slot_owner, release)

    def _updated_row(self, update: dict[str, Any]) -> Batch | None:
        """The row as `update`, a conditional UpdateItem, wrote it; None when its condition did not hold."""
        try:
            answer = self._table.update_item(**update, ReturnValues="ALL_NEW")
        except ClientError as error:
            if conditional_failed(error):
                return None
            raise
        return batch_from_item(answer["Attributes"])


def _lease_update(
    account: str,
    batch_id: str,
    owner: str,
    now: int,
    until: int,
    extra_set: str = "",
    extra_condition: str = "",
    extra_names: dict[str, str] | None = None,
    extra_values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The conditional update that leases an existing row to `owner` until `until`: no one else holds a live lease."""
    return {
        "Key": {"account": account, "batch_id": batch_id},
        "UpdateExpression": (
            "SET #lease_owner = :owner, #lease_until = :until" + extra_set + " ADD #version :one"
            " REMOVE #change_event"  # a lease announces no change
        ),
        "ConditionExpression": (
            "attribute_exists(#version)"
            " AND (attribute_not_exists(#lease_until) OR #lease_until <= :now OR #lease_owner = :owner)"
            + extra_condition
        ),
        "ExpressionAttributeNames": {
            "#lease_owner": "lease_owner",
            "#lease_until": "lease_until",
            "#version": "version",
            "#change_event": CHANGE_EVENT,
            **(extra_names or {}),
        },
        "ExpressionAttributeValues": {":owner": owner, ":until": until, ":one": 1, ":now": now} | (extra_values or {}),
    }


def _hold_update(
    account: str,
    batch_id: str,
    owner: str,
    now: int,
    until: int,
    owned_by: str | None,
    claimable: bool,
    window_from: int | None,
    *,
    version: int | None = None,
    no_status: bool = False,
) -> dict[str, Any]:
    """A change's lease (`_lease_update`) with the hold's conditions (`BatchStore.hold`), and with `no_status`: only
    on a row of no status (`BatchStore.hold_taking_slot`)."""
    conditions: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    if owned_by is not None:
        names["#owner"], values[":me"] = "owner", owned_by
        mine = "#owner = :me"
        conditions.append(f"(attribute_not_exists(#owner) OR {mine})" if claimable else mine)
    if window_from is not None:
        names["#send_at"], values[":window"] = "send_at", window_from
        conditions.append("(attribute_not_exists(#send_at) OR #send_at >= :window)")
    if version is not None:
        values[":expected"] = version
        conditions.append("#version = :expected")
    if no_status:
        names["#status"] = "status"
        conditions.append("attribute_not_exists(#status)")
    return _lease_update(
        account,
        batch_id,
        owner,
        now,
        until,
        extra_condition="".join(f" AND {condition}" for condition in conditions),
        extra_names=names,
        extra_values=values,
    )


def _release_write(
    account: str, batch_id: str, owner: str, unsettled_until: int | None = None, holding_none: bool = False
) -> dict[str, Any]:
    """The update that gives up `owner`'s lease on a row (the version moves), stamping `unsettled_until` when given;
    `holding_none`: only while the row holds no slot."""
    names = {"#lease_owner": "lease_owner", "#lease_until": "lease_until", "#version": "version"}
    values: dict[str, Any] = {":owner": owner, ":one": 1}
    stamp, condition = "", "#lease_owner = :owner"
    if unsettled_until is not None:
        names["#unsettled_until"] = UNSETTLED_UNTIL
        values[":unsettled_until"] = unsettled_until
        stamp = "SET #unsettled_until = :unsettled_until "
    if holding_none:
        names["#active_account"] = "active_account"
        condition += " AND attribute_not_exists(#active_account)"
    return {
        "Key": {"account": account, "batch_id": batch_id},
        "UpdateExpression": stamp + "REMOVE #lease_owner, #lease_until, #change_event ADD #version :one",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {**names, "#change_event": CHANGE_EVENT},
        "ExpressionAttributeValues": values,
    }


def _slot_of(batch: Batch | None) -> str | bool | None:
    """The row's entry in its account's slot ledger: its owner (None: nobody's) when it holds a slot, else False."""
    return batch.owner if batch is not None and batch.holds_slot else False


def _announces(new: Batch, previous: Batch | None) -> bool:
    """Whether this write records a change the row did not hold yet (an operation's edit sets a new one; every
    other edit keeps the row's own)."""
    return new.change is not None and (previous is None or previous.change != new.change)


def _expires_from_the_table_at(batch: Batch) -> int | None:
    """DynamoDB TTL: a week after the last mail can have expired, and only from the stated last_send_at (or
    send_at): a row that may still own a held mail is never removed on a guess."""
    last = batch.last_send_at if batch.last_send_at is not None else batch.send_at
    if last is None or batch.holds_slot:
        return None
    return last + EXPIRY_SECONDS + ROW_RETENTION_SECONDS


@singleton
def batch_store(container: Container) -> BatchStore:
    config = settings()
    table = dynamodb_table(container, config.batches_table_name)
    return BatchStore(
        table,
        config.due_shards,
        config.warning_thresholds_seconds,
        config.expiry_action_lead_seconds,
        config.service_version,
    )
