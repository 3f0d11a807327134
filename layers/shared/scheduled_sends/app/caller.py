"""Who is calling, for which account, and what they may do: where a pause (or any change) is authorized. No I/O:
the row a decision needs is read by the operation and handed in.

The principal that creates (or, with UnknownBatchPolicy=claim, first touches) a batch owns it; admins
(AdminPrincipals) may act on any batch.
"""

from __future__ import annotations

from dataclasses import replace

from ..domain import ownership
from ..domain.batch import Batch
from ..domain.errors import Forbidden
from ..runtime.settings import Settings


class Caller:
    """Who is asking, for which account, and what they may do."""

    def __init__(self, principal: str, on_behalf_of: str | None, config: Settings) -> None:
        self.principal = principal
        self.on_behalf_of = on_behalf_of
        self.account = ownership.account_key(on_behalf_of)
        self.owner = ownership.owner_of(principal)
        self.admins = config.admin_principals
        self.is_admin = ownership.is_admin(self.owner, self.admins)
        self.claims_unknown_batches = config.unknown_batch_policy == "claim"

    def may_see(self, batch: Batch | None) -> bool:
        return ownership.may_act(self.owner, batch.owner if batch else None, self.admins)

    def authorize(self, batch_id: str, batch: Batch | None) -> Batch | None:
        """The batch's row (`batch`, as read) when the caller may act on it; 403 otherwise."""
        if batch is None or batch.owner is None:
            if self.is_admin or self.claims_unknown_batches:
                return batch
            raise Forbidden(self._no_owner(batch_id), field="batch_id")
        if not self.may_see(batch):
            raise Forbidden(f"batch id {batch_id} belongs to another team", field="batch_id")
        return batch

    def _no_owner(self, batch_id: str) -> str:
        """Why a batch id nobody owns here is refused, naming the account asked for: batch ids are kept per account,
        so one created for the parent is unknown to a subuser (and the other way round)."""
        on_behalf_of = self.on_behalf_of
        account = f"the account on-behalf-of {on_behalf_of}" if on_behalf_of else "the parent account (no on-behalf-of)"
        hint = (
            "send the same on-behalf-of as when the batch id was created (none for the parent account)"
            if on_behalf_of
            else "if it was created for a subuser, send that subuser's name in on-behalf-of"
        )
        return (
            f"this service has no owner on record for batch id {batch_id} in {account}; batch ids belong to the "
            f"account they were created for: {hint}, or create batch ids with POST /v3/mail/batch through this service"
        )

    def new_row(self, batch_id: str, current: Batch | None, creating: bool = False) -> Batch:
        """The row to edit: the current one, or one owned by the caller when it creates or claims the batch.
        An admin acting on a batch nobody owns leaves it unowned."""
        if current is not None and current.owner is not None:
            return current
        base = current or Batch(account=self.account, batch_id=batch_id, owner=None)
        return replace(base, owner=self.owner) if creating or not self.is_admin else base
