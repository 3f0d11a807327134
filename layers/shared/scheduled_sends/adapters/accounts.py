"""The accounts registry: every account (the parent, or an `on-behalf-of` subuser or customer account)
the service has acted for, so the scanner's reconcile can compare each with SendGrid's list.

Kept in the batches table under one reserved partition (`#accounts`, one item per account; no batch id
can start with `#`), so it needs no table or permission of its own.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key

from ..runtime import clock
from ..runtime.container import Container, singleton
from ..runtime.settings import settings
from .aws import aws_resource
from .dynamodb import pages

ACCOUNTS_PARTITION = "#accounts"


class AccountRegistry:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._remembered: set[str] = set()

    def remember(self, account: str) -> None:
        """Register an account for reconcile; once per container is enough (the write is idempotent)."""
        if account not in self._remembered:
            # UpdateItem, not PutItem: every function may register, and none needs the right to overwrite rows.
            self._table.update_item(
                Key={"account": ACCOUNTS_PARTITION, "batch_id": account},
                UpdateExpression="SET #registered_at = if_not_exists(#registered_at, :now)",
                ExpressionAttributeNames={"#registered_at": "registered_at"},
                ExpressionAttributeValues={":now": clock.now()},
            )
            self._remembered.add(account)

    def all(self) -> list[str]:
        query = self._table.query
        return [
            item["batch_id"]
            for page in pages(query, KeyConditionExpression=Key("account").eq(ACCOUNTS_PARTITION))
            for item in page.get("Items", ())
        ]


@singleton
def account_registry(container: Container) -> AccountRegistry:
    return AccountRegistry(aws_resource(container, "dynamodb").Table(settings().batches_table_name))
