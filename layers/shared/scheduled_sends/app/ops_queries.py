"""The on-call queries across accounts, answered from the batches table alone (no SendGrid call): list batches by
time left (filtered, paginated), one batch with its recent changes, the batches at risk, and the scanner's at-risk
gauges. Each function takes its collaborators (the store, the time, how to name an account's region) as arguments.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..adapters.batches_table import BatchStore
from ..domain import ops_view
from ..domain.batch import Batch
from ..domain.ownership import on_behalf_of_of

RegionOf = Callable[[str | None], str | None]  # on-behalf-of (None: the parent) -> "global" | "eu" | None
AT_RISK_WITHIN_SECONDS = 6 * 3600  # the widget's and the console's horizon
GAUGE_WINDOWS = {"1h": 3600, "6h": 6 * 3600}


@dataclass(frozen=True)
class BatchQuery:
    """GET /ops/batches, parsed: which statuses, which account and owner, expiring within how long."""

    statuses: tuple[str, ...] = ops_view.LISTED_STATUSES
    account: str | None = None  # the table's account key ("parent", "sub:<name>")
    owner: str | None = None
    expires_within: int | None = None  # seconds
    limit: int = ops_view.DEFAULT_PAGE

    def fingerprint(self) -> str:
        """What a page token is bound to (the filters, not the page size or the time)."""
        return ops_view.query_fingerprint(
            {"s": list(self.statuses), "a": self.account, "o": self.owner, "w": self.expires_within}
        )


@dataclass(frozen=True)
class BatchPage:
    batches: list[dict[str, Any]]
    next_token: str | None


def region_for(batch: Batch, region_of: RegionOf) -> str | None:
    """The region a change was last made in (recorded on the row), else what is known of the account's region."""
    if batch.change is not None and batch.change.region in ("global", "eu"):
        return batch.change.region
    return region_of(on_behalf_of_of(batch.account))


def _merged(store: BatchStore, query: BatchQuery, after: str | None, now: int) -> Iterator[tuple[str, Batch]]:
    """Every status's rows merged into the index's one order (each status is a partition of it)."""
    until = None if query.expires_within is None else now + query.expires_within
    streams = [
        store.by_expiry(
            status,
            after=after,
            until=until,
            account=query.account,
            owner=query.owner,
            page_size=query.limit + 1,
        )
        for status in query.statuses
    ]
    return heapq.merge(*streams, key=lambda pair: pair[0])


def list_batches(
    store: BatchStore, query: BatchQuery, next_token: str | None, now: int, region_of: RegionOf
) -> BatchPage:
    """One page of batches, soonest expiry first (no known expiry last), and the token of the next page (None
    when this is the last)."""
    fingerprint = query.fingerprint()
    after = ops_view.decode_token(next_token, fingerprint)
    taken = list(itertools.islice(_merged(store, query, after, now), query.limit + 1))
    page, more = taken[: query.limit], len(taken) > query.limit
    token = ops_view.encode_token(page[-1][0], fingerprint) if more else None
    return BatchPage([ops_view.batch_view(b, now, region_for(b, region_of)) for _, b in page], token)


def find_batch(store: BatchStore, account: str, batch_id: str, now: int, region_of: RegionOf) -> dict[str, Any] | None:
    """One batch as the on-call view shows it, with its recent changes (newest first); None when not in the table."""
    batch = store.get(account, batch_id)
    if batch is None:
        return None
    return {
        **ops_view.batch_view(batch, now, region_for(batch, region_of)),
        "history": ops_view.history_view(batch.history),
    }


def accounts_holding(store: BatchStore, batch_id: str, accounts: list[str]) -> list[str]:
    """The accounts (in the `on-behalf-of` form, or `parent`) whose rows hold `batch_id`, among the registered
    `accounts`: what an admin who asked the wrong account is told."""
    return [ops_view.account_name(account) for account in store.accounts_holding(batch_id, accounts)]


def at_risk(
    store: BatchStore,
    now: int,
    region_of: RegionOf,
    within: int = AT_RISK_WITHIN_SECONDS,
    limit: int = ops_view.MAX_PAGE,
) -> list[dict[str, Any]]:
    """Paused batches expiring within `within` seconds (or already past their earliest expiry), soonest first:
    what the dashboard widget and the local console show. One index query, however many accounts."""
    query = BatchQuery(statuses=("pause",), expires_within=within, limit=limit)
    return list_batches(store, query, None, now, region_of).batches


@dataclass(frozen=True)
class AtRiskGauges:
    """Paused batches by how soon they expire: all of them, and those without an expiry action (unprotected)."""

    paused_within: dict[str, int]
    unprotected_within: dict[str, int]

    def metrics(self) -> dict[str, int]:
        """Metric name -> value: four stack-level gauges, never one per account or batch."""
        named = {f"PausedExpiringWithin{window}": count for window, count in self.paused_within.items()}
        for window, count in self.unprotected_within.items():
            named[f"PausedUnprotectedExpiringWithin{window}"] = count
        return named


def at_risk_gauges(store: BatchStore, now: int) -> AtRiskGauges:
    """Counted from the paused rows expiring within the longest window, read once from the `by_status` index. A
    batch past its earliest possible expiry (no send_at known) counts: it may still be held, and is the most urgent;
    one past an expiry from its stated send_at does not: SendGrid has discarded it, no action can help any more."""
    horizon = max(GAUGE_WINDOWS.values())
    paused = dict.fromkeys(GAUGE_WINDOWS, 0)
    unprotected = dict.fromkeys(GAUGE_WINDOWS, 0)
    for _, batch in store.by_expiry("pause", until=now + horizon, page_size=500):
        left = ops_view.seconds_left(batch, now)
        assert left is not None  # an expiry bound excludes unknown expiries
        if left < 0 and batch.expires_at_basis == "send_at":
            continue
        for window, seconds in GAUGE_WINDOWS.items():
            if left <= seconds:
                paused[window] += 1
                if batch.expiry_action is None:
                    unprotected[window] += 1
    return AtRiskGauges(paused, unprotected)
