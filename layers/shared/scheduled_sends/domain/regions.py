"""Which SendGrid region serves an account, and which key of the secret each region takes. Pure.

SendGrid serves EU regional subusers only at api.eu.sendgrid.com; a parent account may own subusers of both
regions, each fixed at creation. The decision, in order:
1. an operator's pin (`EuSubusers` / `GlobalSubusers`, a name or "account-id <id>") wins over everything;
2. the parent account (no `on-behalf-of`) and customer accounts ("account-id <id>") are the stack's region;
3. a `*` pin stands for every subuser not named in a pin;
4. otherwise SendGrid's own subuser list says (`needs_listing`): the adapter asks, the cache remembers.
A region that cannot be known is `RegionUnknown` (503): nothing is forwarded rather than a host guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import KeyUnavailable, RegionUnknown

GLOBAL = "global"
EU = "eu"
REGIONS = (GLOBAL, EU)
# On every answer SendGrid gave through the service: which region's host served it (and the log's field).
RESPONSE_HEADER = "X-Scheduled-Sends-Region"
EVERY_SUBUSER = "*"
CUSTOMER_ACCOUNT_PREFIX = "account-id "  # on-behalf-of of a customer account, not of a subuser


def region(value: str) -> str:
    """A region name as configured (the stack's `SendGridRegion`)."""
    if value not in REGIONS:
        raise ValueError(f"a SendGrid region is one of {', '.join(REGIONS)}, not {value!r}")
    return value


def is_customer_account(on_behalf_of: str) -> bool:
    return on_behalf_of.startswith(CUSTOMER_ACCOUNT_PREFIX)


@dataclass(frozen=True)
class RegionPins:
    """The operators' pins: accounts always sent to one region, whatever SendGrid's list says."""

    eu: frozenset[str] = frozenset()
    global_: frozenset[str] = frozenset()

    @classmethod
    def of(cls, eu: Iterable[str] = (), global_: Iterable[str] = ()) -> RegionPins:
        return cls(frozenset(eu), frozenset(global_))

    def _pinned(self, name: str) -> str | None:
        regions = [r for r, names in ((EU, self.eu), (GLOBAL, self.global_)) if name in names]
        if len(regions) > 1:
            subject = "every subuser" if name == EVERY_SUBUSER else repr(name)
            raise RegionUnknown(
                f"{subject} is pinned to both SendGrid regions (EuSubusers and GlobalSubusers); "
                "nothing was sent to SendGrid and operators must correct the pins",
                field="on-behalf-of",
            )
        return regions[0] if regions else None

    def of_account(self, on_behalf_of: str) -> str | None:
        """The region the operators pinned this account to by name, if any."""
        return self._pinned(on_behalf_of)

    def of_every_subuser(self) -> str | None:
        """The region of a `*` pin: every subuser not pinned by name."""
        return self._pinned(EVERY_SUBUSER)


@dataclass(frozen=True)
class RegionDecision:
    """Where an account's calls go: `region`, or None when SendGrid's subuser list must say (`needs_listing`)."""

    region: str | None
    basis: str  # "parent" | "pinned" | "customer account" | "every subuser pinned" | "subuser list"

    @property
    def needs_listing(self) -> bool:
        return self.region is None


def decide(on_behalf_of: str | None, stack_region: str, pins: RegionPins) -> RegionDecision:
    """The region of the account a call acts for, as far as it is known without asking SendGrid."""
    if on_behalf_of is None:
        return RegionDecision(stack_region, "parent")
    pinned = pins.of_account(on_behalf_of)
    if pinned is not None:
        return RegionDecision(pinned, "pinned")
    if is_customer_account(on_behalf_of):
        return RegionDecision(stack_region, "customer account")
    every = pins.of_every_subuser()
    if every is not None:
        return RegionDecision(every, "every subuser pinned")
    return RegionDecision(None, "subuser list")


def listed_regions(page: Any) -> dict[str, str]:
    """username -> region of one page of `GET /v3/subusers?include_region=true`. An entry without a region
    SendGrid names (missing, or one this service does not know) is left out: its calls are refused, never
    guessed. A page that is not a list of objects is a ValueError."""
    if not isinstance(page, list):
        raise ValueError("the subuser list is not a JSON array")
    found: dict[str, str] = {}
    for entry in page:
        if not isinstance(entry, dict):
            raise ValueError("the subuser list holds something other than objects")
        username, listed = entry.get("username"), entry.get("region")
        if isinstance(username, str) and listed in REGIONS:
            found[username] = listed
    return found


def key_for(secret: str, region_name: str) -> str:
    """The SendGrid key for calls to `region_name`'s host. The secret is one key (used for both hosts) or a JSON
    object {"global": "<key>", "eu": "<key>"}; messages never carry any part of the secret."""
    text = secret.strip()
    if not text.startswith("{"):
        return _header_safe(text, region_name)
    try:
        keys = json.loads(text)
    except ValueError:
        raise KeyUnavailable(
            "the service's SendGrid secret starts like JSON but is not; operators have been alerted"
        ) from None
    if not isinstance(keys, dict) or not set(keys) <= set(REGIONS):
        raise KeyUnavailable(
            'the service\'s SendGrid secret must be one key or {"global": ..., "eu": ...}; operators have been alerted'
        )
    key = keys.get(region_name)
    if not isinstance(key, str) or not key.strip():
        raise KeyUnavailable(
            f"the service's SendGrid secret has no key for the {region_name} region; operators have been alerted"
        )
    return _header_safe(key.strip(), region_name)


# What an Authorization header value can carry: printable ASCII without spaces (SendGrid keys are SG.<id>.<secret>).
_KEY_CHARACTERS = re.compile(r"[\x21-\x7e]+")


def _header_safe(key: str, region_name: str) -> str:
    """A key that could not be sent in a header (a line break, a space, a non-ASCII character pasted into the
    secret) is refused here, before any request, rather than failing inside the HTTP client."""
    if not _KEY_CHARACTERS.fullmatch(key):
        raise KeyUnavailable(
            f"the service's SendGrid key for the {region_name} region is not a valid key (it holds a space, a control "
            "or a non-ASCII character); operators have been alerted"
        )
    return key
