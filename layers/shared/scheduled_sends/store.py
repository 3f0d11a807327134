"""The only code that speaks DynamoDB: the table of batches, keyed by account and batch_id, and (in
AuthMode=TOKEN) the table of team token records, keyed by token id.

Two sparse indexes keep the scanner's and the limit check's reads proportional to what matters:
- `due`: rows the scanner must act on, partition `due_shard` (spread over N shards), sort `due_at`;
- `active`: rows holding one of SendGrid's 10 slots (paused or cancelled), partition `active_account`.
Every write is conditional on the row's `version` (optimistic concurrency).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from .config import settings, team_tokens_table_name
from .rules import EXPIRY_SECONDS, Batch, next_due
from .tokens import TeamToken

DUE_INDEX = "due"
ACTIVE_INDEX = "active"
ACCOUNTS_PARTITION = "#accounts"
ROW_RETENTION_SECONDS = 7 * 24 * 3600  # rows outlive expiry by a week, then DynamoDB TTL removes them
_MAX_ATTEMPTS = 5
UNREAD = object()  # `change` without a row the caller already holds


class ConcurrentChange(Exception):
    """A conditional write lost to another writer more times than we retry."""


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _pages(read: Callable[..., dict[str, Any]], **arguments: Any) -> Iterator[dict[str, Any]]:
    """Every page of a DynamoDB query or scan, following LastEvaluatedKey."""
    while True:
        page = read(**arguments)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _to_batch(item: dict[str, Any]) -> Batch:
    return Batch(
        account=item["account"],
        batch_id=item["batch_id"],
        owner=item.get("owner"),
        status=item.get("status"),
        send_at=_int(item.get("send_at")),
        expiry_action=item.get("expiry_action"),
        warned=tuple(sorted(int(t) for t in item.get("warned", ()))),
        action_taken=item.get("action_taken"),
        status_at=_int(item.get("status_at")),
        version=int(item.get("version", 0)),
    )


@dataclass
class ReadCounter:
    """Items DynamoDB read for us (ScannedCount / found items), so cost can be asserted and reported."""

    items: int = 0
    requests: int = 0


class BatchStore:
    def __init__(self, table: Any, due_shards: int, thresholds: tuple[int, ...], action_lead: int) -> None:
        self._table = table
        self._due_shards = due_shards
        self._thresholds = thresholds
        self._action_lead = action_lead
        self.reads = ReadCounter()
        self._remembered: set[str] = set()

    # -- reading ---------------------------------------------------------------------------------
    def get(self, account: str, batch_id: str) -> Batch | None:
        item = self._table.get_item(Key={"account": account, "batch_id": batch_id}, ConsistentRead=True).get("Item")
        self.reads.requests += 1
        self.reads.items += 1 if item else 0
        return _to_batch(item) if item else None

    def active(self, account: str) -> list[Batch]:
        """Rows holding a SendGrid slot for the account (the sparse `active` index)."""
        return [
            _to_batch(i)
            for i in self._query(IndexName=ACTIVE_INDEX, KeyConditionExpression=Key("active_account").eq(account))
        ]

    def due(self, now: int) -> Iterator[Batch]:
        """Every row whose next action time has come, across all shards, oldest first per shard."""
        for shard in range(self._due_shards):
            condition = Key("due_shard").eq(f"due#{shard}") & Key("due_at").lte(now)
            for item in self._query(IndexName=DUE_INDEX, KeyConditionExpression=condition):
                yield _to_batch(item)

    def accounts(self) -> list[str]:
        return [i["batch_id"] for i in self._query(KeyConditionExpression=Key("account").eq(ACCOUNTS_PARTITION))]

    def _query(self, **arguments: Any) -> Iterator[dict[str, Any]]:
        for page in _pages(self._table.query, **arguments):
            self.reads.requests += 1
            self.reads.items += int(page.get("ScannedCount", len(page.get("Items", ()))))
            yield from page.get("Items", ())

    # -- writing ---------------------------------------------------------------------------------
    def remember_account(self, account: str) -> None:
        """Register an account for the scanner's reconcile; once per container is enough."""
        if account not in self._remembered:
            self._table.put_item(Item={"account": ACCOUNTS_PARTITION, "batch_id": account})
            self._remembered.add(account)

    def change(
        self,
        account: str,
        batch_id: str,
        edit: Callable[[Batch | None], Batch | None],
        now: int,
        current: Batch | object | None = UNREAD,
    ) -> Batch | None:
        """Read-modify-write with optimistic concurrency: `edit` gets the latest row (None when there is none)
        and returns the new one (None to leave it); a lost race re-reads and edits again. A caller that has
        just read the row passes it as `current` to save the read (a stale one only costs a retry)."""
        for _ in range(_MAX_ATTEMPTS):
            if current is UNREAD:
                current = self.get(account, batch_id)
            assert current is None or isinstance(current, Batch)
            wanted = edit(current)
            if wanted is None:
                return current
            try:
                return self._write(wanted, current, self._next_due(wanted), now)
            except ClientError as error:
                if not _conditional_failed(error):
                    raise
                current = UNREAD
        raise ConcurrentChange(f"batch {batch_id} kept changing under us")

    def _write(self, batch: Batch, previous: Batch | None, due_at: int | None, now: int) -> Batch:
        new = replace(batch, version=(previous.version if previous else 0) + 1)
        values: dict[str, Any] = {
            "owner": new.owner,
            "status": new.status,
            "send_at": new.send_at,
            "expires_at": new.expires_at,
            "expiry_action": new.expiry_action,
            "warned": set(new.warned) or None,
            "action_taken": new.action_taken,
            "status_at": new.status_at,
            "version": new.version,
            "updated_at": now,
            "active_account": new.account if new.holds_slot else None,
            "due_shard": self._shard(new) if due_at is not None else None,
            "due_at": due_at,
            "ttl": (new.send_at + EXPIRY_SECONDS + ROW_RETENTION_SECONDS) if new.send_at is not None else None,
        }
        names = {f"#{key}": key for key in values} | {"#created_at": "created_at"}
        set_parts = [f"#{key} = :{key}" for key, value in values.items() if value is not None]
        set_parts.append("#created_at = if_not_exists(#created_at, :now)")
        remove_parts = [f"#{key}" for key, value in values.items() if value is None]
        expression = "SET " + ", ".join(set_parts) + (" REMOVE " + ", ".join(remove_parts) if remove_parts else "")
        attribute_values = {f":{k}": v for k, v in values.items() if v is not None} | {":now": now}
        if previous is None:
            condition = "attribute_not_exists(#version)"
        else:
            condition = "#version = :expected"
            attribute_values[":expected"] = previous.version
        self._table.update_item(
            Key={"account": new.account, "batch_id": new.batch_id},
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
        )
        return new

    def _next_due(self, batch: Batch) -> int | None:
        """Every write places the row in the `due` index at its next action time (or takes it out)."""
        return next_due(batch, self._thresholds, self._action_lead)

    def _shard(self, batch: Batch) -> str:
        return f"due#{zlib.crc32(f'{batch.account}/{batch.batch_id}'.encode()) % self._due_shards}"

    # -- scanner claims: a conditional write decides which of two overlapping runs does the work ---------
    def claim_warning(self, batch: Batch, threshold: int) -> bool:
        return self._conditional(
            batch,
            "ADD #warned :t",
            "attribute_exists(#version) AND (attribute_not_exists(#warned) OR NOT contains(#warned, :n))",
            {":t": {Decimal(threshold)}, ":n": Decimal(threshold)},
            {"#warned": "warned"},
        )

    def release_warning(self, batch: Batch, threshold: int) -> None:
        self._conditional(
            batch, "DELETE #warned :t", "attribute_exists(#warned)", {":t": {Decimal(threshold)}}, {"#warned": "warned"}
        )

    def claim_action(self, batch: Batch, action: str) -> bool:
        return self._conditional(
            batch,
            "SET #action_taken = :a",
            "attribute_exists(#version) AND attribute_not_exists(#action_taken)",
            {":a": action},
            {"#action_taken": "action_taken"},
        )

    def release_action(self, batch: Batch) -> None:
        self._conditional(
            batch, "REMOVE #action_taken", "attribute_exists(#action_taken)", {}, {"#action_taken": "action_taken"}
        )

    def _conditional(
        self, batch: Batch, update: str, condition: str, values: dict[str, Any], names: dict[str, str]
    ) -> bool:
        # Claims bump the version too, so a concurrent read-modify-write cannot overwrite them.
        update += ", #version :one" if update.startswith("ADD ") else " ADD #version :one"
        try:
            self._table.update_item(
                Key={"account": batch.account, "batch_id": batch.batch_id},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={**names, "#version": "version"},
                ExpressionAttributeValues={**values, ":one": 1},
            )
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True


@cache
def batch_store() -> BatchStore:
    config = settings()
    table = boto3.resource("dynamodb").Table(config.batches_table_name)
    return BatchStore(table, config.due_shards, config.warning_thresholds_seconds, config.expiry_action_lead_seconds)


# -- team tokens (AuthMode=TOKEN) -------------------------------------------------------------------
def _to_token(item: dict[str, Any]) -> TeamToken:
    return TeamToken(
        token_id=item["token_id"],
        team=item["team"],
        secret_hash=item["secret_hash"],
        subusers=tuple(item.get("subusers", ())),
        created_at=int(item.get("created_at", 0)),
        revoked_at=_int(item.get("revoked_at")),
        description=item.get("description", ""),
    )


class TokenStore:
    """Team token records, keyed by token id. Only hashes of secrets are ever written."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, token_id: str) -> TeamToken | None:
        # Consistent: a revoke must count from the moment it is acknowledged.
        item = self._table.get_item(Key={"token_id": token_id}, ConsistentRead=True).get("Item")
        return _to_token(item) if item else None

    def add(self, token: TeamToken) -> None:
        item: dict[str, Any] = {
            "token_id": token.token_id,
            "team": token.team,
            "secret_hash": token.secret_hash,
            "created_at": token.created_at,
            "description": token.description,
        }
        if token.subusers:
            item["subusers"] = list(token.subusers)
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(token_id)")

    def all(self) -> list[TeamToken]:
        found = [_to_token(item) for page in _pages(self._table.scan) for item in page.get("Items", ())]
        return sorted(found, key=lambda t: (t.team, t.created_at, t.token_id))

    def revoke(self, token_id: str, now: int) -> TeamToken | None:
        """The revoked record (revoking twice keeps the first time), or None when there is no such token."""
        try:
            self._table.update_item(
                Key={"token_id": token_id},
                UpdateExpression="SET revoked_at = :now",
                ConditionExpression="attribute_exists(token_id) AND attribute_not_exists(revoked_at)",
                ExpressionAttributeValues={":now": now},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
        return self.get(token_id)


@cache
def token_store() -> TokenStore:
    return TokenStore(boto3.resource("dynamodb").Table(team_tokens_table_name()))
