"""The slot ledger: which batches hold one of SendGrid's 10 pause/cancel slots in an account, and whose, kept on
the account's item (`account_item`) so that one conditional write takes a slot under every rule at once.

Two kinds of string set on the item: `held` (every batch id holding a slot, or given one by a change now in
flight) and `team:<owner>` (those of them owned by <owner>). A take adds the batch to both under the conditions
`domain.slot_quota` states (for a non-admin the admin's reserved slot and the team quota; an admin's take is bound
by SendGrid's own 10 alone, which SendGrid enforces), and registers the account for reconcile in the same write; a
set makes every take and give-back idempotent (a retried take never counts twice). Every write of a batch's row
that starts or stops holding a slot (`BatchStore`) moves its entry in the same transaction (`entry_moves`), so the
ledger is the rows holding a slot plus the takes of changes in flight. A take left by a change that died before
its record is given back by reconcile (`give_back_unheld`) once the batch's row is neither holding a slot nor
leased, and by a refused take that read SendGrid's list (`give_back_unlisted`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..domain import leases, slot_quota
from .account_item import RECONCILE_SHARD, account_item_key
from .dynamodb import conditional_failed

HELD = "held"
TEAM_PREFIX = "team:"
# On a batch's row: a change that kept its slot without knowing its outcome could still be at SendGrid until then.
# On the account's item: the last take's change could still be at SendGrid until then (the end of its lease).
UNSETTLED_UNTIL = "unsettled_until"


def team_attribute(owner: str) -> str:
    return f"{TEAM_PREFIX}{owner}"


@dataclass(frozen=True)
class Ledger:
    """An account's slots as its item holds them: batch id -> owner (None: a batch nobody owns)."""

    account: str
    holders: dict[str, str | None] = field(default_factory=dict)
    # owner -> ids its set holds that `held` does not: counted against that team's quota, held by nobody
    strays: dict[str, frozenset[str]] = field(default_factory=dict)

    def owners_except(self, batch_id: str) -> list[str | None]:
        """The owners of the slots held by other batches (what `slot_quota.slot_refusal` judges)."""
        return [owner for held, owner in self.holders.items() if held != batch_id]


def ledger_from_item(account: str, item: dict[str, Any] | None) -> Ledger:
    item = item or {}
    owners = {
        batch_id: name.removeprefix(TEAM_PREFIX)
        for name, value in item.items()
        if name.startswith(TEAM_PREFIX)
        for batch_id in value
    }
    held = set(item.get(HELD, ()))
    unheld = {
        name.removeprefix(TEAM_PREFIX): frozenset(set(value) - held)
        for name, value in item.items()
        if name.startswith(TEAM_PREFIX)
    }
    strays = {owner: ids for owner, ids in unheld.items() if ids}
    return Ledger(account, {b: owners.get(b) for b in held}, strays)


def entry_moves(
    account: str, batch_id: str, before: str | bool | None, after: str | bool | None
) -> dict[str, Any] | None:
    """The ledger's update when a batch's row goes from holding a slot owned by `before` to `after` (False: no slot
    held; a str or None: held, by that owner or by nobody), or None when nothing moves. Unconditional: it runs in the
    transaction of the row's own conditional write, and sets make it idempotent."""
    if before == after:
        return None
    names: dict[str, str] = {}
    adds, deletes = [], []
    if before is False or after is False:  # DynamoDB refuses a name the expression does not use
        names["#held"] = HELD
    if before is False:
        adds.append("#held :batch")
    if after is False:
        deletes.append("#held :batch")
    if isinstance(before, str):
        names["#old_team"] = team_attribute(before)
        deletes.append("#old_team :batch")
    if isinstance(after, str):
        names["#new_team"] = team_attribute(after)
        adds.append("#new_team :batch")
    expression = " ".join(
        part
        for part in ("ADD " + ", ".join(adds) if adds else "", "DELETE " + ", ".join(deletes) if deletes else "")
        if part
    )
    return {
        "Key": account_item_key(account),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":batch": {batch_id}},
    }


def row_key(account: str, batch_id: str) -> dict[str, str]:
    return {"account": account, "batch_id": batch_id}


def take_update(
    account: str, batch_id: str, owner: str | None, is_admin: bool, quota: int, now: int, registers: bool
) -> dict[str, Any]:
    """The conditional update of the account's item that gives `batch_id` (owned by `owner`) a slot under the rules
    `domain.slot_quota` states; alone (`SlotLedger.take`) or in a team's hold (`BatchStore.hold_taking_slot`). A
    batch already holding its slot passes (a pause -> cancel, a retried take). `registers`: SendGrid vouches for the
    account (a name only SendGrid's answer can confirm is registered once it served it), so the same write registers
    it for reconcile and puts it first in line for the scanner's next run, whatever became of the change's answer:
    its next reconcile becomes its registration time, which no schedule of the account's precedes (one update
    cannot write "the earlier of two times"; "now" would move an overdue account back). `unsettled_until`, the end
    of the change's lease (no request outlives it), tells a reconcile whose list was read before then not to
    schedule the account later: the change may have reached SendGrid after the list (`AccountRegistry.reconciled`)."""
    limit = slot_quota.ledger_limit(is_admin)
    names = {"#held": HELD}
    values: dict[str, Any] = {":batch": {batch_id}}
    conditions = []
    if limit is not None:
        values |= {":id": batch_id, ":limit": limit}
        conditions.append("(attribute_not_exists(#held) OR contains(#held, :id) OR size(#held) < :limit)")
    registration = (
        "SET #registered_at = if_not_exists(#registered_at, :now), #due_shard = :shard,"
        " #due_at = if_not_exists(#registered_at, :now), #unsettled_until = :settled "
    )
    if registers:
        names |= {
            "#registered_at": "registered_at",
            "#due_shard": "due_shard",
            "#due_at": "due_at",
            "#unsettled_until": UNSETTLED_UNTIL,
        }
        values |= {":now": now, ":shard": RECONCILE_SHARD, ":settled": now + leases.CHANGE_LEASE_SECONDS}
    adds = ["#held :batch"]
    if owner is not None:
        names["#team"] = team_attribute(owner)
        adds.append("#team :batch")
        if not is_admin:
            values |= {":id": batch_id, ":quota": quota}
            conditions.append("(attribute_not_exists(#team) OR contains(#team, :id) OR size(#team) < :quota)")
    update: dict[str, Any] = {
        "Key": account_item_key(account),
        "UpdateExpression": (registration if registers else "") + "ADD " + ", ".join(adds),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if conditions:
        update["ConditionExpression"] = " AND ".join(conditions)
    return update


class SlotLedger:
    """Takes and gives back slots on the account's item (the batches table)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def read(self, account: str) -> Ledger:
        item = self._table.get_item(Key=account_item_key(account), ConsistentRead=True).get("Item")
        return ledger_from_item(account, item)

    def take(
        self, account: str, batch_id: str, owner: str | None, is_admin: bool, quota: int, now: int, registers: bool
    ) -> Ledger | None:
        """Give `batch_id` (owned by `owner`) a slot of the account's when every rule allows it (`take_update`): the
        ledger as written, or None when a rule refused (`read` says which)."""
        try:
            answer = self._table.update_item(
                **take_update(account, batch_id, owner, is_admin, quota, now, registers), ReturnValues="ALL_NEW"
            )
        except ClientError as error:
            if conditional_failed(error):
                return None
            raise
        return ledger_from_item(account, answer["Attributes"])

    def give_back_with_release(self, account: str, batch_id: str, owner: str | None, release: dict[str, Any]) -> bool:
        """Give back the slot a change took, in one transaction with `release`, the row's conditional write that
        gives up the change's lease (`BatchStore.release_giving_back`); False when its condition did not hold."""
        moves = entry_moves(account, batch_id, owner, False)
        assert moves is not None
        return self._transact(("Update", release), ("Update", moves))

    def give_back_after_write(
        self, account: str, batch_id: str, owner: str | None, lease_owner: str | None, now: int
    ) -> bool:
        """After a row write that stopped the batch holding a slot (not an operation's record): give the slot back,
        checked on the row in the same transaction (still holding none, and no live lease but the writer's own), so
        a change that holds the batch since, and took its slot again, keeps it."""
        return self._transact_checked(account, {batch_id: owner}, False, lambda _: _unheld(now, lease_owner))

    def give_back_unheld(self, account: str, holders: dict[str, str | None], now: int, listed_at: int) -> int:
        """Give back the slots of batches (batch id -> owner) whose rows neither hold one nor are leased (a change
        took it and died before its record, or SendGrid never applied it), each checked on its row in the same
        transaction; a row that holds it or that someone holds keeps its slot, and so does one whose change of
        unknown outcome may have reached SendGrid after its list was read at `listed_at` (`UNSETTLED_UNTIL`).
        Returns how many were given back."""
        return self._moved_checked(account, holders, adding=False, check=lambda _: _unheld(now, settled_by=listed_at))

    def give_back_unlisted(self, account: str, holders: dict[str, str | None], now: int, listed_at: int) -> int:
        """Give back the slots of batches (batch id -> owner) SendGrid's list, read at `listed_at`, does not hold,
        whatever their rows say, each checked on its row: not written since the list (a change recorded after it
        may be the one the list missed), no live lease, and no change of unknown outcome that could have reached
        SendGrid after it. Returns how many were given back."""
        return self._moved_checked(account, holders, adding=False, check=lambda _: _unchanged_since(now, listed_at))

    def count_listed(self, account: str, holders: dict[str, str | None]) -> int:
        """Count the slots of batches (batch id -> owner) SendGrid's list holds and the ledger misses (set outside
        the service, or by a change whose answer was lost): unconditionally, SendGrid holds them. A change that
        resumed one since leaves it counted until reconcile (one too many, never one too few)."""
        self._table.update_item(**_bulk_moves(account, holders, adding=True))
        return len(holders)

    def count_held(self, account: str, holders: dict[str, str | None]) -> int:
        """Count the slots of batches (batch id -> owner) whose rows hold one the ledger misses, each checked on
        its row (still holding, same owner) in the same transaction. Returns how many were counted."""
        return self._moved_checked(account, holders, adding=True, check=_holding)

    def drop_strays(self, account: str, strays: dict[str, frozenset[str]]) -> int:
        """Remove ids from the owners' sets that `held` does not hold (a team's count must be of slots held), in one
        write checked on `held` (a take since, which adds to both, keeps its entry). Returns how many were removed."""
        names, values, parts = _owner_sets({owner: set(ids) for owner, ids in strays.items()})
        names["#held"] = HELD
        checks = []
        for number, batch_id in enumerate(sorted({b for ids in strays.values() for b in ids})):
            values[f":id{number}"] = batch_id
            checks.append(f"NOT contains(#held, :id{number})")
        try:
            self._table.update_item(
                Key=account_item_key(account),
                UpdateExpression="DELETE " + ", ".join(parts),
                ConditionExpression=" AND ".join(checks),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if conditional_failed(error):
                return 0
            raise
        return sum(len(ids) for ids in strays.values())

    def recount_owner(self, account: str, batch_id: str, was: str | None, owner: str | None) -> bool:
        """Count a held slot under its row's owner, not `was`: checked on the row (holding, owned so)."""
        moves = entry_moves(account, batch_id, was, owner)
        if moves is None:
            return False
        return self._transact(("ConditionCheck", _row_check(account, batch_id, *_holding(owner))), ("Update", moves))

    def _moved_checked(
        self,
        account: str,
        holders: dict[str, str | None],
        adding: bool,
        check: Callable[[str | None], tuple[str, dict[str, Any]]],
    ) -> int:
        """Add (or remove) these entries in one transaction per 99, each on its row's condition; when a condition
        fails, entry by entry (the others still move)."""
        moved = 0
        entries = sorted(holders.items())
        for start in range(0, len(entries), _CHECKS_PER_TRANSACTION):
            chunk = dict(entries[start : start + _CHECKS_PER_TRANSACTION])
            if self._transact_checked(account, chunk, adding, check):
                moved += len(chunk)
            elif len(chunk) > 1:
                moved += sum(
                    self._transact_checked(account, {batch_id: owner}, adding, check)
                    for batch_id, owner in chunk.items()
                )
        return moved

    def _transact_checked(
        self,
        account: str,
        holders: dict[str, str | None],
        adding: bool,
        check: Callable[[str | None], tuple[str, dict[str, Any]]],
    ) -> bool:
        checks = [("ConditionCheck", _row_check(account, b, *check(owner))) for b, owner in holders.items()]
        return self._transact(*checks, ("Update", _bulk_moves(account, holders, adding)))

    def _transact(self, *actions: tuple[str, dict[str, Any]]) -> bool:
        """One transaction; False when a condition of it did not hold (another writer came first)."""
        try:
            self._table.transact_write(*actions)
        except ClientError as error:
            if conditional_failed(error):
                return False
            raise
        return True


def _unheld(now: int, writer: str | None = None, settled_by: int | None = None) -> tuple[str, dict[str, Any]]:
    """A row's condition for giving its slot back: it holds none, no one (but `writer`) holds a live lease and (with
    `settled_by`, when a list was read) no change of unknown outcome could have reached SendGrid after it."""
    condition, values = _unleased(now, writer)
    condition = "attribute_not_exists(#active_account) AND " + condition
    if settled_by is not None:
        condition += " AND " + _SETTLED
        values[":listed_at"] = settled_by
    return condition, values


def _unchanged_since(now: int, listed_at: int) -> tuple[str, dict[str, Any]]:
    """A row's condition for giving back a slot SendGrid's list (read at `listed_at`) does not show: not written
    since the list, no live lease, and no change of unknown outcome that may have reached SendGrid after it."""
    condition, values = _unleased(now)
    condition = f"(attribute_not_exists(#updated_at) OR #updated_at < :listed_at) AND {condition} AND {_SETTLED}"
    return condition, {**values, ":listed_at": listed_at}


def _unleased(now: int, writer: str | None = None) -> tuple[str, dict[str, Any]]:
    """No one (but `writer`) holds a live lease on the row."""
    if writer is None:
        return "(attribute_not_exists(#lease_until) OR #lease_until <= :now)", {":now": now}
    return (
        "(attribute_not_exists(#lease_until) OR #lease_until <= :now OR #lease_owner = :writer)",
        {":now": now, ":writer": writer},
    )


# No change of unknown outcome could have reached SendGrid after its list was read at :listed_at.
_SETTLED = "(attribute_not_exists(#unsettled_until) OR #unsettled_until <= :listed_at)"


def _holding(owner: str | None) -> tuple[str, dict[str, Any]]:
    """A row's condition for counting its slot under `owner`: it holds one, and is owned so."""
    if owner is None:
        return "attribute_exists(#active_account) AND attribute_not_exists(#owner)", {}
    return "attribute_exists(#active_account) AND #owner = :owner", {":owner": owner}


_ROW_NAMES = {
    "#active_account": "active_account",
    "#unsettled_until": UNSETTLED_UNTIL,
    "#updated_at": "updated_at",
    "#lease_until": "lease_until",
    "#lease_owner": "lease_owner",
    "#owner": "owner",
}


def _row_check(account: str, batch_id: str, condition: str, values: dict[str, Any]) -> dict[str, Any]:
    """A ConditionCheck on a batch's row, declaring only the names and values its condition uses."""
    check: dict[str, Any] = {
        "Key": row_key(account, batch_id),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {name: value for name, value in _ROW_NAMES.items() if name in condition},
    }
    if values:
        check["ExpressionAttributeValues"] = values
    return check


_CHECKS_PER_TRANSACTION = 99  # DynamoDB: 100 actions per transaction, one of them the ledger's update


def _bulk_moves(account: str, holders: dict[str, str | None], adding: bool) -> dict[str, Any]:
    """One update of the ledger adding (or removing) every entry: `held` and each owner's set."""
    by_owner: dict[str, set[str]] = {}
    for batch_id, owner in holders.items():
        if owner is not None:
            by_owner.setdefault(owner, set()).add(batch_id)
    names, values, parts = _owner_sets(by_owner)
    names["#held"], values[":held"] = HELD, set(holders)
    return {
        "Key": account_item_key(account),
        "UpdateExpression": ("ADD " if adding else "DELETE ") + ", ".join(["#held :held", *parts]),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _owner_sets(by_owner: dict[str, set[str]]) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """The names, values and `#teamN :teamN` parts of an ADD or DELETE of these ids from each owner's set."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts = []
    for number, (owner, ids) in enumerate(sorted(by_owner.items())):
        names[f"#team{number}"] = team_attribute(owner)
        values[f":team{number}"] = ids
        parts.append(f"#team{number} :team{number}")
    return names, values, parts
