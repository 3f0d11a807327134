"""The account's item: one per account the service acts for (the parent, a subuser, a customer account), under the
batches table's reserved partition `#accounts` (no batch id can start with `#`). The registry (`accounts`) keeps
the account's reconcile schedule on it and the slot ledger (`slot_ledger`) the slots its batches hold, so that one
conditional write on it registers the account and takes a slot."""

from __future__ import annotations

ACCOUNTS_PARTITION = "#accounts"
RECONCILE_SHARD = "accounts"  # the registry's partition in the due index


def account_item_key(account: str) -> dict[str, str]:
    return {"account": ACCOUNTS_PARTITION, "batch_id": account}
