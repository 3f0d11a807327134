"""What every event the service publishes says about its batch (the fields all event schemas share)."""

from __future__ import annotations

from typing import Any

from ..domain import rules
from ..domain.rules import Batch


def detail_of(batch: Batch, **extra: Any) -> dict[str, Any]:
    return {
        "account": batch.account,
        "on_behalf_of": rules.on_behalf_of_of(batch.account),
        "batch_id": batch.batch_id,
        "owner": batch.owner,
        "status": batch.status,
        "send_at": batch.send_at,
        "expires_at": batch.expires_at,
        "expiry_action": batch.expiry_action,
        **extra,
    }
