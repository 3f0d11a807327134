"""The team tokens table (AuthMode=TOKEN): one record per token, keyed by token id. Only hashes of
secrets are ever written."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..domain.tokens import TeamToken
from ..runtime.container import Container, singleton
from ..runtime.settings import team_tokens_table_name
from .dynamodb import conditional_failed, optional_int, pages
from .dynamodb import table as dynamodb_table


def _to_token(item: dict[str, Any]) -> TeamToken:
    return TeamToken(
        token_id=item["token_id"],
        team=item["team"],
        secret_hash=item["secret_hash"],
        subusers=tuple(item.get("subusers", ())),
        created_at=int(item.get("created_at", 0)),
        revoked_at=optional_int(item.get("revoked_at")),
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
        found = [_to_token(item) for page in pages(self._table.scan) for item in page.get("Items", ())]
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
            if not conditional_failed(error):
                raise
        return self.get(token_id)


@singleton
def token_store(container: Container) -> TokenStore:
    return TokenStore(dynamodb_table(container, team_tokens_table_name()))
