"""SendGrid for one caller's account: where an operation calls SendGrid (`Upstream.forward`, one call through
the regional router `adapters.sendgrid.router`), remembering the region the call went to (a change is recorded
with it) and registering the account for reconcile.

An account SendGrid vouches for (the parent, a subuser its subuser list holds, one pinned by name) is registered
BEFORE anything is forwarded for it, so a change whose answer is lost is still watched by reconcile; a name
SendGrid's list does not hold is refused before (`SubuserNotListed`), so it never enters the registry. Only a
name nothing vouches for (a `*` pin, an `account-id`) is registered after SendGrid served it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..adapters.sendgrid.client import UpstreamResponse
from ..adapters.sendgrid.router import RegionalSendGrid


class Upstream:
    def __init__(
        self,
        sendgrid: RegionalSendGrid,
        on_behalf_of: str | None,
        register: Callable[[], None],
        served: Callable[[], None],
    ) -> None:
        self._sendgrid, self._on_behalf_of = sendgrid, on_behalf_of
        self._register, self._served = register, served
        self.region: str | None = None  # the SendGrid region of the account, once a call has gone there
        self.vouched = False  # SendGrid vouches for the account (`ready`): it may be registered before any call

    def ready(self) -> bool:
        """Before anything is written for the account: its region found (a name SendGrid's list does not hold is
        refused here, 400 `SubuserNotListed`; 503 when the list cannot be read) and, when SendGrid vouches for the
        account, the account registered for reconcile. True when it was vouched for."""
        if self.region is not None:  # already ready (a change checks before it writes, then forwards)
            return self.vouched
        region = self._sendgrid.region_of(self._on_behalf_of)  # where the call goes (and a change is made)
        vouched = self.vouched = self._sendgrid.vouched_for(self._on_behalf_of)
        if vouched:
            self._register()
        self.region = region
        return vouched

    def forward(self, method: str, path: str, body: dict[str, Any] | None = None) -> UpstreamResponse:
        """One SendGrid call for this account. `register` runs before it when SendGrid vouches for the account
        (its failure stops the call: nothing is forwarded unwatched), `served` after a 2xx otherwise."""
        vouched = self.ready()
        answer = self._sendgrid.call(method, path, on_behalf_of=self._on_behalf_of, body=body)
        if not vouched and 200 <= answer.status < 300:
            self._served()
        return answer
