"""One request's view of the application: who is calling (`Caller`), SendGrid for their account (`Upstream`) and
what records the outcome (`Recorder`), built from the services the composition root handed in."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.batch import Batch
from .caller import Caller
from .recording import Recorder
from .services import Services
from .upstream import Upstream


@dataclass(frozen=True)
class Acting:
    """One request's view of the application: who calls, SendGrid for their account, what records the outcome."""

    caller: Caller
    upstream: Upstream
    recorder: Recorder
    services: Services


def acting_for(principal: str, on_behalf_of: str | None, request_id: str, services: Services) -> Acting:
    caller = Caller(principal, on_behalf_of, services.config)
    recorder = Recorder(caller, request_id, services.store, services.accounts, services.clock, services.config)
    upstream = Upstream(services.sendgrid, on_behalf_of, recorder.register_first, recorder.register_account)
    return Acting(caller, upstream, recorder, services)


def authorized(acting: Acting, batch_id: str) -> Batch | None:
    """The batch's row when the caller may act on it (read here, judged by the caller); 403 otherwise."""
    return acting.caller.authorize(batch_id, acting.services.store.get(acting.caller.account, batch_id))
