"""The composition root: the one place that builds the application's collaborators for a container and hands
them to it (`services()`): the batches table's store, the account registry, SendGrid's regional router, the event
bus, the settings, the clock and idempotent creates.

Every part is built once per container (a Lambda container builds its clients once; the local runner and the bench
play many containers, each built from its own environment) and on first use, so a cold start pays only for the
parts its function uses. The entry points are its only callers; the application never looks a part up.

`use(**parts)` replaces parts of the current container's services (tests: a store that fails its next write, a
clock they hold; the local runner and the bench build containers of their own and need nothing else).
"""

from __future__ import annotations

from typing import Any

from ..adapters.accounts import account_registry
from ..adapters.aws import aws_client
from ..adapters.batches_table import batch_store
from ..adapters.event_bus import event_bus
from ..adapters.sendgrid.wiring import sendgrid_client
from ..app.idempotency import IdempotentCreates
from ..app.services import Services
from ..runtime.clock import SYSTEM_CLOCK
from ..runtime.container import Container, current, singleton
from ..runtime.settings import settings


def _idempotent_creates(container: Container) -> IdempotentCreates:
    config = settings()
    return IdempotentCreates(
        config.idempotency_table_name,
        lambda: aws_client(container, "dynamodb"),
        config.idempotency_expiry_seconds,
        SYSTEM_CLOCK,
        config.budget_seconds,
    )


@singleton
def services(container: Container) -> Services:
    """The container's services; each part is built on first use and kept for the container's life."""
    return Services(
        store=batch_store,
        accounts=account_registry,
        sendgrid=sendgrid_client,
        events=event_bus,
        config=settings,
        clock=SYSTEM_CLOCK,
        idempotency=lambda: _idempotent_creates(container),
    )


def use(**parts: Any) -> Services:
    """From now on, the current container's services have these parts (by name: store, accounts, sendgrid, events,
    config, clock, idempotency); the others stay as built. Returns the services now in use."""
    chosen = services().with_parts(**parts)
    current().provide(services.factory, chosen)  # type: ignore[attr-defined]
    return chosen
