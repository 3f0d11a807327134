"""The regional router: SendGrid as the application sees it, one `call` made at the host of the account's
region (api.sendgrid.com or api.eu.sendgrid.com, see `domain.regions`), with that region's key."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...domain import regions
from ...domain.errors import ServiceError
from .client import SendGridClient, UpstreamResponse
from .subusers import SubuserDirectory


class RegionalSendGrid:
    """SendGrid as callers see it: one `call`, made at the host of the account's region. Calls on behalf of an
    EU subuser go to the EU host only, everything else of the global region to the global host only; an account
    whose region cannot be known gets `RegionUnknown` and nothing is sent."""

    def __init__(
        self, hosts: dict[str, SendGridClient], stack_region: str, pins: regions.RegionPins, directory: SubuserDirectory
    ) -> None:
        self._hosts = hosts
        self._stack_region = stack_region
        self._pins = pins
        self._directory = directory

    def region_of(self, on_behalf_of: str | None) -> str:
        """The account's region; SendGrid's subuser list is read (or its remembered answer used) when needed."""
        decision = regions.decide(on_behalf_of, self._stack_region, self._pins)
        if decision.region is not None:
            return decision.region
        assert on_behalf_of is not None
        return self._directory.region_of(on_behalf_of)

    def vouched_for(self, on_behalf_of: str | None) -> bool:
        """Whether the account is known to exist before anything is sent for it: the parent, a subuser the
        operators pinned by name, or one SendGrid's subuser list holds (as last read; no call). A name only a `*`
        pin or the `account-id` form routes is known to exist only once SendGrid has served it."""
        if on_behalf_of is None:
            return True
        decision = regions.decide(on_behalf_of, self._stack_region, self._pins)
        return decision.basis == "pinned" or self._directory.known(on_behalf_of) is not None

    def known_region(self, on_behalf_of: str | None) -> str | None:
        """The account's region as far as it is known without asking SendGrid (for logs)."""
        try:
            decision = regions.decide(on_behalf_of, self._stack_region, self._pins)
        except ServiceError:
            return None
        if decision.region is not None or on_behalf_of is None:
            return decision.region
        return self._directory.known(on_behalf_of)

    def call(
        self,
        method: str,
        path: str,
        *,
        on_behalf_of: str | None = None,
        body: dict[str, Any] | None = None,
        wait_out_rate_limits: bool = True,
    ) -> UpstreamResponse:
        """`SendGridClient.call` at the host of the account's region (see there for retries and errors); the answer
        names that region in `regions.RESPONSE_HEADER`."""
        region = self.region_of(on_behalf_of)
        answer = self._hosts[region].call(
            method, path, on_behalf_of=on_behalf_of, body=body, wait_out_rate_limits=wait_out_rate_limits
        )
        return replace(answer, headers={**answer.headers, regions.RESPONSE_HEADER: region})

    def close_connections(self) -> None:
        for host in self._hosts.values():
            host.close_connections()
