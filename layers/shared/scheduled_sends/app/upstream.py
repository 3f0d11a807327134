"""SendGrid for one caller's account: where an operation calls SendGrid (`Upstream.forward`, one call through
the regional router `adapters.sendgrid.router`), remembering the region the call went to (a change is recorded
with it) and registering the account for reconcile once SendGrid has served it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..adapters.sendgrid.client import UpstreamResponse
from ..adapters.sendgrid.router import RegionalSendGrid


class Upstream:
    def __init__(self, sendgrid: RegionalSendGrid, on_behalf_of: str | None, served: Callable[[], None]) -> None:
        self._sendgrid, self._on_behalf_of, self._served = sendgrid, on_behalf_of, served
        self.region: str | None = None  # the SendGrid region of the account, once a call has gone there

    def forward(self, method: str, path: str, body: dict[str, Any] | None = None) -> UpstreamResponse:
        """One SendGrid call for this account; `served` runs after a 2xx."""
        self.region = self._sendgrid.region_of(self._on_behalf_of)  # where the call goes (and a change is made)
        answer = self._sendgrid.call(method, path, on_behalf_of=self._on_behalf_of, body=body)
        if 200 <= answer.status < 300:
            self._served()
        return answer
