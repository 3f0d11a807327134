"""What every event the service publishes says about its batch (the fields all event schemas share)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from ..adapters.sendgrid.router import RegionalSendGrid
from ..domain import ops_view, ownership
from ..domain.batch import Batch
from ..domain.errors import RegionUnknown, SubuserNotListed

_EVENT_NAMESPACE = uuid.UUID("5a0c6f0e-3f1e-4a53-9d2c-6b1f0d6f8a11")


def detail_of(sendgrid: RegionalSendGrid, batch: Batch, **extra: Any) -> dict[str, Any]:
    """The shared fields, the account's region as `sendgrid` knows it among them; every time as epoch seconds and,
    beside it, as ISO-8601 UTC (`<name>_iso`, null when the time is). The parent account's `on_behalf_of` is "",
    as in the change events (the pipe's input template writes strings only: AWS documents no way to write null)."""
    detail = {
        "account": batch.account,
        "on_behalf_of": ownership.on_behalf_of_of(batch.account) or "",
        "region": region_of(sendgrid, batch.account),
        "batch_id": batch.batch_id,
        "owner": batch.owner,
        "status": batch.status,
        "send_at": batch.send_at,
        "last_send_at": batch.last_send_at,
        "expires_at": batch.expires_at,
        "expires_at_basis": batch.expires_at_basis,
        "expiry_action": batch.expiry_action,
        **extra,
    }
    return ops_view.with_iso(detail, "send_at", "last_send_at", "expires_at")


def event_id(detail_type: str, batch: Batch, *discriminators: object) -> str:
    """The same id for the same event of the same episode of a batch, whichever run (re)publishes it, so
    subscribers can drop duplicates (events are published at least once)."""
    episode = batch.held_since if batch.held_since is not None else batch.send_at
    name = "|".join(str(part) for part in (detail_type, batch.account, batch.batch_id, episode, *discriminators))
    return str(uuid.uuid5(_EVENT_NAMESPACE, name))


def region_of(sendgrid: RegionalSendGrid, account: str) -> str | None:
    """The SendGrid region holding the account's data ("global" or "eu"); None when it cannot be known now
    (the event still goes out: a warning matters more than its region)."""
    try:
        return sendgrid.region_of(ownership.on_behalf_of_of(account))
    except (RegionUnknown, SubuserNotListed):
        return None


def known_regions(sendgrid: RegionalSendGrid, accounts: Iterable[str]) -> dict[str, str | None]:
    """account -> region as already known (no SendGrid call), for the scan log."""
    return {account: sendgrid.known_region(ownership.on_behalf_of_of(account)) for account in accounts}
