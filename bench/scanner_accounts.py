"""The scanner at 100, 1,000 and 10,000 accounts: the real `Scanner` (its reconcile scheduling, pool, deadline
and rate-limit share), with SendGrid simulated at a fixed latency per call and the table and registry emulated
in memory. Time is compressed by `SCALE` (latencies and the run's budget divided by it, results multiplied back)
so 10,000 accounts at 150 ms fit a 2-core machine; what that leaves out: DynamoDB's own latency (a few ms per
account, on the run's thread), conditional-write contention, and CPU time, which is not compressed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from scheduled_sends.adapters.accounts import AccountRecord
from scheduled_sends.adapters.batches_table import DueBatches
from scheduled_sends.adapters.sendgrid.client import UpstreamResponse
from scheduled_sends.adapters.slot_ledger import Ledger
from scheduled_sends.app.scanner import Scanner
from scheduled_sends.domain.batch import Batch
from scheduled_sends.runtime.container import Container
from scheduled_sends.runtime.observability import logger
from scheduled_sends.runtime.settings import Settings, settings

SCALE = 10  # real seconds = simulated seconds / SCALE
RUN_EVERY = 300  # the template's rate(5 minutes)
LAMBDA_TIMEOUT = 300
ACTIVE_SHARE = 10  # one account in ten holds a paused batch


class _Registry:
    """The accounts registry in memory, ordered by next reconcile time as the due index is."""

    def __init__(self, accounts: list[str], now: int) -> None:
        self.due_at = dict.fromkeys(accounts, now)
        self.last: dict[str, int] = {}
        self.gaps: dict[str, int] = {}  # the longest time between two reconciles of each account
        self.records = {a: AccountRecord(a) for a in accounts}

    def remember(self, account: str) -> None:
        self.due_at.setdefault(account, 0)

    def last_reconciled_at(self, account: str) -> int | None:
        return self.last.get(account)

    def due(self, now: int) -> Any:
        order = sorted((at, a) for a, at in self.due_at.items() if at <= now)
        return iter([a for _, a in order])

    def reconciled(self, record: AccountRecord, now: int, next_at: int, listed_at: int) -> None:
        if record.account in self.last:
            gap = now - self.last[record.account]
            self.gaps[record.account] = max(self.gaps.get(record.account, 0), gap)
        self.last[record.account] = now
        self.due_at[record.account] = next_at
        self.records[record.account] = record

    def records_(self) -> Any:
        return iter(self.records.values())


class _Ledgers:
    """The accounts' slot ledgers in memory, agreeing with the rows (reconcile finds nothing to move)."""

    def __init__(self, store: _Store) -> None:
        self.store = store

    def read(self, account: str) -> Ledger:
        return Ledger(account, {b.batch_id: b.owner for b in self.store.active(account)})

    def _moved(self, *args: Any, **kwargs: Any) -> int:
        raise AssertionError("the ledgers agree with the rows in this simulation")

    give_back_unheld = count_held = recount_owner = drop_strays = _moved


class _Store:
    """Batch rows in memory: one paused batch in every tenth account, nothing due."""

    def __init__(self, accounts: list[str]) -> None:
        self.rows = {a: [Batch(a, f"b{i}", "team", "pause")] for i, a in enumerate(accounts) if i % ACTIVE_SHARE == 0}
        self.slots = _Ledgers(self)

    def due(self, now: int) -> DueBatches:
        return DueBatches([], 0)

    def active(self, account: str) -> list[Batch]:
        return self.rows.get(account, [])

    def get(self, account: str, batch_id: str) -> Batch | None:
        return next((b for b in self.rows.get(account, []) if b.batch_id == batch_id), None)

    def change(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("no drift in this simulation")

    def by_expiry(self, status: str, **query: Any) -> list[tuple[str, Batch]]:
        """The at-risk gauges' read (an index query): these rows have no known expiry, so none is within a window."""
        return []


class _SendGrid:
    """SendGrid's list at `latency` per call, with a rate limit of `limit` calls per simulated minute."""

    def __init__(self, store: _Store, latency: float, limit: int | None, sim_start: float) -> None:
        self.store, self.latency, self.limit = store, latency, limit
        self.calls = 0
        self.lock = threading.Lock()
        self.window_counts: dict[int, int] = {}
        self.sim_start, self.real_start = sim_start, time.perf_counter()

    def sim_now(self) -> float:
        return self.sim_start + (time.perf_counter() - self.real_start) * SCALE

    def region_of(self, on_behalf_of: str | None) -> str:
        return "global"  # every simulated account's data lives where the parent's does

    def call(self, method: str, path: str, *, on_behalf_of: str | None = None, **_: Any) -> UpstreamResponse:
        time.sleep(self.latency / SCALE)
        account = f"sub:{on_behalf_of}"
        body = (
            "[" + ",".join(f'{{"batch_id":"{b.batch_id}","status":"pause"}}' for b in self.store.active(account)) + "]"
        )
        with self.lock:
            self.calls += 1
            window = int(self.sim_now() // 60)
            self.window_counts[window] = self.window_counts.get(window, 0) + 1
            used = self.window_counts[window]
        limit = self.limit or 1_000_000  # SendGrid always sends the headers; "no limit" is a very large one
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": str((window + 1) * 60),
        }
        return UpstreamResponse(200, body, headers)


class _Bus:
    def publish(self, *args: Any) -> None:
        raise AssertionError("no events in this simulation")


def simulate(accounts_total: int, latency: float, limit: int | None, config: Settings) -> dict[str, Any]:
    """Runs every 5 simulated minutes until every account has been reconciled, then for an hour more."""
    from scheduled_sends.runtime import clock

    accounts = [f"sub:tenant-{i:05}" for i in range(accounts_total)]
    now = 1_800_000_000
    registry, store = _Registry(accounts, now), _Store(accounts)
    registry_view = type("View", (), {})()
    registry_view.remember, registry_view.due, registry_view.reconciled = (
        registry.remember,
        registry.due,
        registry.reconciled,
    )
    registry_view.last_reconciled_at = registry.last_reconciled_at
    registry_view.records = registry.records_
    runs: list[dict[str, Any]] = []
    all_done_at: float | None = None
    budget = (LAMBDA_TIMEOUT - config.scan_stop_before_seconds) / SCALE
    original_now = clock.now
    start = now
    quiet = logger.log_level
    logger.setLevel("WARNING")  # one "account reconciled" line per account would measure the terminal
    try:
        while now - start < 4 * 3600 and (all_done_at is None or now - start < all_done_at + 3600):
            sendgrid = _SendGrid(store, latency, limit, now)

            def compressed(sendgrid: _SendGrid = sendgrid) -> int:
                return int(sendgrid.sim_now())

            clock.now = compressed  # the compressed time
            scanner = Scanner(store, _Bus(), sendgrid, config, accounts=registry_view)  # type: ignore[arg-type]
            began = time.perf_counter()
            with clock.deadline_in(budget):
                summary = scanner.run(now)
            took = (time.perf_counter() - began) * SCALE
            if summary.errors:  # a simulation whose reconciles fail measures nothing
                raise AssertionError(f"{summary.errors} reconciles failed in the simulated run at {now}")
            runs.append({"run_s": round(took, 1), "sendgrid_calls": sendgrid.calls, "reconciled": summary.reconciled})
            if all_done_at is None and len(registry.last) == accounts_total:
                all_done_at = now - start + took
            now += RUN_EVERY
    finally:
        clock.now = original_now
        logger.setLevel(quiet)
    active = [a for a in accounts if a in store.rows]
    return {
        "accounts": accounts_total,
        "sendgrid_latency_ms": int(latency * 1000),
        "rate_limit_per_minute": limit,
        "runs": len(runs),
        "max_run_s": max(r["run_s"] for r in runs),
        "max_calls_per_run": max(r["sendgrid_calls"] for r in runs),
        "all_reconciled_after_s": None if all_done_at is None else round(all_done_at, 1),
        "active_max_gap_s": max((registry.gaps.get(a, 0) for a in active), default=0),
        "timeout_s": LAMBDA_TIMEOUT,
    }


def scanner_accounts(quick: bool) -> dict[str, Any]:
    config = _settings()
    sizes = [100, 1000] if quick else [100, 1_000, 10_000]
    latencies = [0.05] if quick else [0.05, 0.15]
    rows = []
    for latency in latencies:
        for size in sizes:
            rows.append(simulate(size, latency, None, config))
    if not quick:  # the shared rate limit: 600 calls a minute, half kept for the teams
        rows.append(simulate(10_000, 0.05, 600, config))
    return {"scale": SCALE, "concurrency": config.scan_concurrency, "rows": rows}


def _settings() -> Settings:
    """The scanner's settings as the template sets them (the real factory, on a container of its own)."""
    environment = {
        "SENDGRID_API_BASE_URL": "http://sendgrid.invalid",
        "SENDGRID_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
        "SCAN_CONCURRENCY": "8",
        "SCAN_STOP_BEFORE_SECONDS": "30",
    }
    return settings.factory(Container(environment))  # type: ignore[attr-defined]


def print_scanner_accounts(results: dict[str, Any]) -> None:
    section = results["scanner_accounts"]
    print(f"\nscanner at many accounts (time compressed x{section['scale']}, {section['concurrency']} calls at a time)")
    for row in section["rows"]:
        limit = f", rate limit {row['rate_limit_per_minute']}/min (half kept)" if row["rate_limit_per_minute"] else ""
        print(
            f"  {row['accounts']:>6} accounts, SendGrid {row['sendgrid_latency_ms']} ms{limit}: longest run "
            f"{row['max_run_s']} s of {row['timeout_s']} s, at most {row['max_calls_per_run']} calls a run, every "
            f"account reconciled after {row['all_reconciled_after_s']} s, active accounts at most "
            f"{row['active_max_gap_s']} s apart"
        )
