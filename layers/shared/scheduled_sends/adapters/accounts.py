"""The accounts registry: every account (the parent, or an `on-behalf-of` subuser or customer account)
the service has acted for, with when the scanner next reconciles it against SendGrid's list.

Kept in the batches table under one reserved partition (`#accounts`, one item per account; no batch id
can start with `#`), so it needs no table or permission of its own. Each item also sits in the table's
`due` index under the partition `accounts`, sorted by its next reconcile time, so a run reads the accounts
most in need first and only as many as it has time for. Each item keeps what its last reconcile saw
(slots in use, the paused batches' expiry times), from which the scanner's gauges are aggregated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from ..runtime import clock
from ..runtime.container import Container, singleton
from ..runtime.settings import settings
from .account_item import ACCOUNTS_PARTITION, RECONCILE_SHARD
from .batches_table import DUE_INDEX
from .dynamodb import conditional_failed, pages
from .dynamodb import table as dynamodb_table
from .slot_ledger import UNSETTLED_UNTIL

__all__ = ["ACCOUNTS_PARTITION", "RECONCILE_SHARD", "AccountRecord", "AccountRegistry", "account_registry"]


@dataclass(frozen=True)
class AccountRecord:
    account: str
    slots_in_use: int = 0
    paused_expiries: tuple[int, ...] = ()  # when each paused batch expires, at the earliest (for the gauges)


class AccountRegistry:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._remembered: set[str] = set()

    def remember(self, account: str) -> None:
        """Register an account, due for reconcile at once if new; once per container is enough. UpdateItem,
        not PutItem: every function may register, and none needs the right to overwrite rows."""
        if account not in self._remembered:
            self._table.update_item(
                Key={"account": ACCOUNTS_PARTITION, "batch_id": account},
                UpdateExpression=(
                    "SET #registered_at = if_not_exists(#registered_at, :now),"
                    " #due_shard = if_not_exists(#due_shard, :shard), #due_at = if_not_exists(#due_at, :now)"
                ),
                ExpressionAttributeNames={
                    "#registered_at": "registered_at",
                    "#due_shard": "due_shard",
                    "#due_at": "due_at",
                },
                ExpressionAttributeValues={":now": clock.now(), ":shard": RECONCILE_SHARD},
            )
            self._remembered.add(account)

    def reconcile_by(self, account: str, when: int) -> None:
        """Bring the account's next reconcile forward to `when` (never later): it now holds a slot."""
        self._move_due(account, when, "attribute_not_exists(#due_at) OR #due_at > :when")

    def last_reconciled_at(self, account: str) -> int | None:
        """When the account's last reconcile ran (its list is at most a moment later), or None if never."""
        item = self._table.get_item(
            Key={"account": ACCOUNTS_PARTITION, "batch_id": account},
            ProjectionExpression="#reconciled_at",
            ExpressionAttributeNames={"#reconciled_at": "reconciled_at"},
            ConsistentRead=True,
        ).get("Item")
        value = (item or {}).get("reconciled_at")
        return None if value is None else int(value)

    def postpone(self, account: str, when: int) -> None:
        """Move a registered account's next reconcile to `when` (an account SendGrid refuses is looked at again
        only then); an account no longer registered is not written back."""
        self._move_due(account, when, "attribute_exists(#due_at)")

    def _move_due(self, account: str, when: int, condition: str) -> None:
        """Set the account's next reconcile to `when` where `condition` holds; where it does not, leave it."""
        try:
            self._table.update_item(
                Key={"account": ACCOUNTS_PARTITION, "batch_id": account},
                UpdateExpression="SET #due_shard = :shard, #due_at = :when",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#due_shard": "due_shard", "#due_at": "due_at"},
                ExpressionAttributeValues={":shard": RECONCILE_SHARD, ":when": when},
            )
        except ClientError as error:
            if not conditional_failed(error):
                raise

    def due(self, now: int) -> Iterator[str]:
        """Accounts whose reconcile is due, the longest overdue first; read page by page as the run goes."""
        condition = Key("due_shard").eq(RECONCILE_SHARD) & Key("due_at").lte(now)
        for page in pages(self._table.query, IndexName=DUE_INDEX, KeyConditionExpression=condition):
            for item in page.get("Items", ()):
                yield item["batch_id"]

    def reconciled(self, record: AccountRecord, now: int, next_at: int, listed_at: int) -> None:
        """What the account's reconcile saw, and its next reconcile at `next_at`, unless the change of a slot taken
        in the account may have reached SendGrid after its list (read at `listed_at`: before the take's lease
        ended): that change may be missing from the list, so the account keeps the place the take gave it, first
        in line for the next run."""
        names = {"#reconciled_at": "reconciled_at", "#slots": "slots_in_use", "#expiries": "paused_expiries"}
        values = {":now": now, ":slots": record.slots_in_use, ":exp": list(record.paused_expiries)}
        seen = "SET #reconciled_at = :now, #slots = :slots, #expiries = :exp"
        key = {"account": ACCOUNTS_PARTITION, "batch_id": record.account}
        try:
            self._table.update_item(
                Key=key,
                UpdateExpression=seen + ", #due_shard = :shard, #due_at = :next",
                ConditionExpression="attribute_not_exists(#unsettled) OR #unsettled <= :listed_at",
                ExpressionAttributeNames=names
                | {"#due_shard": "due_shard", "#due_at": "due_at", "#unsettled": UNSETTLED_UNTIL},
                ExpressionAttributeValues=values
                | {":shard": RECONCILE_SHARD, ":next": next_at, ":listed_at": listed_at},
            )
        except ClientError as error:
            if not conditional_failed(error):
                raise
            self._table.update_item(
                Key=key, UpdateExpression=seen, ExpressionAttributeNames=names, ExpressionAttributeValues=values
            )

    def records(self) -> Iterator[AccountRecord]:
        """What the last reconcile of every account saw (one paged query of the registry's partition)."""
        for page in pages(self._table.query, KeyConditionExpression=Key("account").eq(ACCOUNTS_PARTITION)):
            for item in page.get("Items", ()):
                yield AccountRecord(
                    item["batch_id"],
                    int(item.get("slots_in_use", 0)),
                    tuple(int(v) for v in item.get("paused_expiries", ())),
                )

    def all(self) -> list[str]:
        return [record.account for record in self.records()]

    def schedule_unscheduled(self, now: int) -> list[str]:
        """Give every registered account without a next reconcile time one, due at `now`; return them.

        Entries written before release 1.0.0 (when the scanner began reconciling each account on its own schedule)
        carry only `registered_at`: outside the due index, the scanner never reads them, and `remember` fixes one
        only when a new container acts for that account again. Conditional per item, so a run is idempotent and
        never moves a time a scanner or a function has set meanwhile."""
        scheduled: list[str] = []
        for page in pages(self._table.query, KeyConditionExpression=Key("account").eq(ACCOUNTS_PARTITION)):
            for item in page.get("Items", ()):
                if "due_at" in item and "due_shard" in item:
                    continue
                try:
                    self._table.update_item(
                        Key={"account": ACCOUNTS_PARTITION, "batch_id": item["batch_id"]},
                        UpdateExpression=(
                            "SET #due_shard = :shard, #due_at = :now,"
                            " #registered_at = if_not_exists(#registered_at, :now)"
                        ),
                        # Out of the due index while either key is missing (the index needs both).
                        ConditionExpression=(
                            "attribute_exists(#account) AND"
                            " (attribute_not_exists(#due_at) OR attribute_not_exists(#due_shard))"
                        ),
                        ExpressionAttributeNames={
                            "#account": "account",
                            "#due_shard": "due_shard",
                            "#due_at": "due_at",
                            "#registered_at": "registered_at",
                        },
                        ExpressionAttributeValues={":shard": RECONCILE_SHARD, ":now": now},
                    )
                except ClientError as error:
                    if not conditional_failed(error):
                        raise
                    continue
                scheduled.append(item["batch_id"])
        return scheduled


@singleton
def account_registry(container: Container) -> AccountRegistry:
    return AccountRegistry(dynamodb_table(container, settings().batches_table_name))
