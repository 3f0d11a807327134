"""The application's collaborators, handed in: the composition root (`scheduled_sends.entry.bootstrap`) builds one
`Services` per container and every operation, the scanner and reconcile receive it (or the parts they use). No
application module looks a collaborator up itself, so a test builds the application with the parts it chooses (a
store that fails its next write, a clock it holds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..adapters.accounts import AccountRegistry
from ..adapters.batches_table import BatchStore
from ..adapters.event_bus import EventBus
from ..adapters.sendgrid.router import RegionalSendGrid
from ..runtime.clock import Clock
from ..runtime.settings import Settings
from .idempotency import IdempotentCreates

T = TypeVar("T")
Provider = Callable[[], T]


def _given(value: Any) -> Provider[Any]:
    return lambda: value


class _Part(Generic[T]):
    """One collaborator of `Services`, built on first read from its provider and kept (a non-data descriptor: the
    value stored on the instance answers every later read)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, services: Any, owner: type | None = None) -> T:
        value: T = services._providers[self.name]()
        services.__dict__[self.name] = value
        return value


class Services:
    """The store, the account registry, SendGrid (the regional router), the event bus, the settings, the clock and
    idempotent creates. Each part is built on first use from its provider, so a function that never publishes an
    event never builds the bus's client (cold starts pay only for what they use)."""

    store: _Part[BatchStore] = _Part()
    accounts: _Part[AccountRegistry] = _Part()
    sendgrid: _Part[RegionalSendGrid] = _Part()
    events: _Part[EventBus] = _Part()
    config: _Part[Settings] = _Part()
    idempotency: _Part[IdempotentCreates] = _Part()

    def __init__(
        self,
        *,
        store: Provider[BatchStore],
        accounts: Provider[AccountRegistry],
        sendgrid: Provider[RegionalSendGrid],
        events: Provider[EventBus],
        config: Provider[Settings],
        clock: Clock,
        idempotency: Provider[IdempotentCreates],
    ) -> None:
        self._providers: dict[str, Provider[Any]] = {
            "store": store,
            "accounts": accounts,
            "sendgrid": sendgrid,
            "events": events,
            "config": config,
            "idempotency": idempotency,
        }
        self.clock = clock

    def with_parts(self, **parts: Any) -> Services:
        """These services with some parts replaced by the values given (`clock` among them)."""
        unknown = set(parts) - set(self._providers) - {"clock"}
        if unknown:
            raise TypeError(f"no such part: {', '.join(sorted(unknown))}")
        providers = {
            name: _given(parts[name]) if name in parts else provider for name, provider in self._providers.items()
        }
        return Services(**providers, clock=parts.get("clock", self.clock))
