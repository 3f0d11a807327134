"""The accounts registry: every account (the parent, or an `on-behalf-of` subuser or customer account)
the service has acted for, so the scanner's reconcile can compare each with SendGrid's list.

Kept in the batches table under one reserved partition (`#accounts`, one item per account; no batch id
can start with `#`), so it needs no table or permission of its own.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key

from ..runtime.container import Container, singleton
from ..runtime.settings import settings
from .dynamodb import pages
from .dynamodb import table as dynamodb_table

ACCOUNTS_PARTITION = "#accounts"


class AccountRegistry:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._remembered: set[str] = set()

    def remember(self, account: str) -> None:
        """Register an account for reconcile; once per container is enough (the write is idempotent)."""
        if account not in self._remembered:
            self._table.put_item(Item={"account": ACCOUNTS_PARTITION, "batch_id": account})
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
    return AccountRegistry(dynamodb_table(container, settings().batches_table_name))
