"""How much a scanner run may do: SendGrid's shared rate limit (most of each window is the teams'), and when
each account is next reconciled. Pure: the scanner feeds it what SendGrid's headers said."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NEAR_SLOT_LIMIT = 8  # an account this close to SendGrid's 10 slots shows on the dashboard


@dataclass
class RateShare:
    """The scanner's share of SendGrid's rate-limit window, from the X-RateLimit-* headers it last saw: it
    stops calling while `remaining` is at or under `reserve` x `limit` (left for the teams' own requests),
    until the window resets; after a 429 it stops for the rest of the run."""

    reserve: float
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    backed_off: bool = False
    calls: int = 0

    def observe(self, headers: Mapping[str, str]) -> None:
        lowered = {key.lower(): value for key, value in headers.items()}
        try:
            limit = int(lowered["x-ratelimit-limit"])
            remaining = int(lowered["x-ratelimit-remaining"])
        except (KeyError, ValueError):
            return
        reset = lowered.get("x-ratelimit-reset")
        self.limit, self.remaining = limit, remaining
        self.reset_at = float(reset) if reset and reset.replace(".", "", 1).isdigit() else None

    def rate_limited(self) -> None:
        self.backed_off = True

    def allows_a_call(self, now: float, in_flight: int = 0) -> bool:
        if self.backed_off:
            return False
        if self.limit is None or self.remaining is None:
            return in_flight == 0  # nothing seen yet: one call at a time until an answer tells
        if self.reset_at is not None and now >= self.reset_at:
            return True  # a new window; its first answer tells again
        return self.remaining > self.limit * self.reserve

    def spend(self) -> None:
        """One call made: counted, and taken off what is known to remain until SendGrid's answer says."""
        self.calls += 1
        if self.remaining is not None:
            self.remaining -= 1


def next_reconcile_at(now: int, slots_in_use: int, active_seconds: int, idle_seconds: int) -> int:
    """Accounts holding pauses or cancels are reconciled often (a stale row could block a pause), idle
    accounts rarely; a newly seen account is due at once (the registry schedules it at `now`)."""
    return now + (active_seconds if slots_in_use else idle_seconds)


@dataclass(frozen=True)
class SlotGauges:
    """Aggregates over every account, whose cost does not grow with the number of accounts."""

    accounts: int = 0
    accounts_at_limit: int = 0
    accounts_near_limit: int = 0
    max_slots_in_use: int = 0


def slot_gauges(slots_per_account: Iterable[int], limit: int) -> SlotGauges:
    values = list(slots_per_account)
    return SlotGauges(
        accounts=len(values),
        accounts_at_limit=sum(1 for v in values if v >= limit),
        accounts_near_limit=sum(1 for v in values if v >= NEAR_SLOT_LIMIT),
        max_slots_in_use=max(values, default=0),
    )
