"""What every event the service publishes says about its batch (the fields all event schemas share)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..adapters.sendgrid import sendgrid_client
from ..domain import rules
from ..domain.errors import RegionUnknown
from ..domain.rules import Batch


def detail_of(batch: Batch, **extra: Any) -> dict[str, Any]:
    return {
        "account": batch.account,
        "on_behalf_of": rules.on_behalf_of_of(batch.account),
        "region": region_of(batch.account),
        "batch_id": batch.batch_id,
        "owner": batch.owner,
        "status": batch.status,
        "send_at": batch.send_at,
        "expires_at": batch.expires_at,
        "expiry_action": batch.expiry_action,
        **extra,
    }


def region_of(account: str) -> str | None:
    """The SendGrid region holding the account's data ("global" or "eu"); None when it cannot be known now
    (the event still goes out: a warning matters more than its region)."""
    try:
        return sendgrid_client().region_of(rules.on_behalf_of_of(account))
    except RegionUnknown:
        return None


def known_regions(accounts: Iterable[str]) -> dict[str, str | None]:
    """account -> region as already known (no SendGrid call), for the scan log."""
    client = sendgrid_client()
    return {account: client.known_region(rules.on_behalf_of_of(account)) for account in accounts}
