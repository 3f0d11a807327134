"""Reconcile: one account's rows against SendGrid's own list, SendGrid being the source of truth.

A row SendGrid does not list loses its status; an entry SendGrid lists that the table lacks or records
differently is written as SendGrid has it; finished batches SendGrid still lists have their slot freed
(SlotReclaim=auto) or stay counted as holding it (notify: `Batch.entry_left`, cleared once SendGrid no longer
lists them). Every repair publishes a Drift event; a finished row's slot count following the list is no drift.
The reconcile's gauges (slots in use, paused batches by time left) go into the scan summary. An account
SendGrid refuses (a subuser it does not list, or a 401/403/404 for that on-behalf-of) is set aside until the
idle interval has passed and counted as unreconcilable, not as an error: a name that no longer exists at
SendGrid must not fail every run.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import cache, partial
from typing import TYPE_CHECKING

from ..adapters import event_bus as bus
from ..adapters.accounts import AccountRecord
from ..adapters.batches_table import BatchStore
from ..adapters.sendgrid.client import UpstreamResponse, api_path
from ..domain import ownership, send_windows, validation
from ..domain.batch import ACTIVE_STATUSES, FINISHED_STATUSES, Batch
from ..domain.errors import BadRequest, RegionUnknown, UpstreamKeyRejected, UpstreamRateLimited
from ..domain.scan_limits import next_reconcile_at
from ..runtime import clock
from ..runtime.observability import logger
from .event_detail import detail_of, event_id

if TYPE_CHECKING:
    from .scanner import Scanner, ScanSummary


class ListNotFound(Exception):
    """SendGrid answered 404 to an account's list."""


def refused_account(account: str, failure: BaseException) -> bool:
    """Whether the account itself is what SendGrid refuses (retrying cannot help), rather than a passing
    failure: a subuser its list does not name, or a 401/403/404 for that on-behalf-of. The parent's key being
    rejected stays an error: nothing would work."""
    if isinstance(failure, RegionUnknown):
        return failure.not_listed
    subuser = ownership.on_behalf_of_of(account) is not None
    return subuser and isinstance(failure, UpstreamKeyRejected | ListNotFound)


@dataclass(frozen=True)
class Repair:
    """One row written to agree with SendGrid (`row`: as written; `before`: the status it had)."""

    row: Batch
    kind: str  # untracked-at-sendgrid | status-differs | missing-at-sendgrid
    sendgrid_status: str | None
    before: str | None


def listed_statuses(body: str, account: str) -> tuple[dict[str, str], int]:
    """SendGrid's list answer as batch_id -> status, and how many entries (slots) it holds."""
    upstream: dict[str, str] = {}
    listed = json.loads(body)
    for entry in listed:
        try:
            upstream[validation.batch_id(entry.get("batch_id"))] = validation.status(entry.get("status"))
        except (BadRequest, AttributeError):
            logger.warning("SendGrid listed an entry we cannot use", extra={"account": account})
    return upstream, len(listed)


def repair_rows(
    store: BatchStore,
    account: str,
    recorded: dict[str, Batch],
    upstream: dict[str, str],
    listed_at: int,
    now: int,
    previous_list_at: Callable[[], int | None] = lambda: None,
) -> list[Repair]:
    """Write the table's rows of `account` as SendGrid listed them at `listed_at`. `recorded` are the rows
    holding a slot, read before the list. A row is repaired only if it is still the version that was read
    and was not written since the list (an operation in flight is never undone), and never while a scanner
    run holds its lease. Finished rows (expired, discarded) SendGrid still lists are left to the scanner.
    A pause or cancel found here is watched as held since the account's previous list (`previous_list_at`,
    read only when needed), not since now: see `send_windows.found_held_since`."""
    repairs: list[Repair] = []

    @cache  # the registry is read at most once, and only if a repair needs it
    def found_since() -> int:
        return send_windows.found_held_since(previous_list_at(), listed_at)

    def repair(batch_id: str, seen: Batch | None, status: str | None, kind: str) -> None:
        def as_listed(base: Batch) -> Batch:
            return base.with_status(status, now, found_since() if status in ACTIVE_STATUSES else None)

        written = edit_as_listed(store, account, batch_id, seen, as_listed, listed_at, now)
        if written is not None:
            repairs.append(Repair(written, kind, status, seen.status if seen else None))

    for batch_id, status in upstream.items():
        row = recorded.get(batch_id) or store.get(account, batch_id)
        if row is not None and (row.status == status or row.status in FINISHED_STATUSES):
            continue
        repair(batch_id, row, status, "untracked-at-sendgrid" if row is None else "status-differs")
    for batch_id, row in recorded.items():
        if batch_id in upstream:
            continue
        if row.status in FINISHED_STATUSES:
            entry_gone(store, row, listed_at, now)
        else:
            repair(batch_id, row, None, "missing-at-sendgrid")
    return repairs


def edit_as_listed(
    store: BatchStore,
    account: str,
    batch_id: str,
    seen: Batch | None,
    edit: Callable[[Batch], Batch],
    listed_at: int,
    now: int,
) -> Batch | None:
    """Write `edit` of a row (`seen`: as it was read, None: there was none) to agree with a list taken at
    `listed_at`, only if it is still that version, was not written since the list (an operation in flight is
    never undone) and no scanner run holds its lease. The row written, or None when it was left alone."""
    if seen is not None and (seen.leased(now) or (seen.updated_at or 0) >= listed_at):
        return None
    written: list[Batch] = []

    def guarded(current: Batch | None) -> Batch | None:
        written.clear()
        if (current is None) != (seen is None) or (current is not None and current.version != seen.version):  # type: ignore[union-attr]
            return None  # changed since it was read: the next reconcile looks again
        written.append(edit(current or Batch(account, batch_id, owner=None)))
        return written[0]

    store.change(account, batch_id, guarded, now)
    return written[0] if written else None


def entry_gone(store: BatchStore, row: Batch, listed_at: int, now: int) -> None:
    """A finished batch's entry left at SendGrid is gone (resumed or deleted outside the service, or reclaimed
    by the scanner): its slot is free. The row's own status was right all along, so this is no drift."""
    if edit_as_listed(store, row.account, row.batch_id, row, _with_entry(False), listed_at, now) is not None:
        logger.info("a finished batch's entry is gone from SendGrid: its slot is free", extra=_where(row))


def entry_still_listed(store: BatchStore, row: Batch, listed_at: int, now: int) -> None:
    """SlotReclaim=notify: a finished batch SendGrid still lists (finished before its row could say so) takes
    a slot until someone deletes the entry, so its row counts it."""
    if edit_as_listed(store, row.account, row.batch_id, row, _with_entry(True), listed_at, now) is not None:
        logger.info("a finished batch's entry is still at SendGrid: its slot is counted", extra=_where(row))


def _with_entry(left: bool) -> Callable[[Batch], Batch]:
    return lambda batch: replace(batch, entry_left=left)


def _where(row: Batch) -> dict[str, str]:
    return {"batch_id": row.batch_id, "account": row.account, "status": str(row.status)}


class Reconciler:
    """Reconcile the accounts whose turn has come, longest overdue first, with at most `scan_concurrency`
    SendGrid lists in flight, while the run has time and SendGrid's rate-limit window has the scanner's share
    left. Table work stays on the run's own thread; only SendGrid calls go to the pool."""

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner

    def reconcile_due(self, now: int, summary: ScanSummary, has_time: Callable[[], bool]) -> None:
        scanner, config = self.scanner, self.scanner.config
        accounts = scanner.accounts.due(now)
        in_flight: dict[Future[UpstreamResponse], tuple[str, dict[str, Batch], int]] = {}
        with ThreadPoolExecutor(max_workers=config.scan_concurrency, thread_name_prefix="reconcile") as pool:
            while True:
                while (
                    len(in_flight) < config.scan_concurrency
                    and has_time()
                    and scanner.rate.allows_a_call(clock.now(), len(in_flight))
                ):
                    account = next(accounts, None)
                    if account is None:
                        break
                    recorded = {b.batch_id: b for b in scanner.store.active(account)}  # read before the list
                    scanner.rate.spend()
                    # In the run's context: its container (the local runner's is per function) and its deadline.
                    listing = pool.submit(
                        contextvars.copy_context().run,
                        scanner.client.call,
                        "GET",
                        api_path("user", "scheduled_sends"),
                        on_behalf_of=ownership.on_behalf_of_of(account),
                        wait_out_rate_limits=False,
                    )
                    in_flight[listing] = (account, recorded, clock.now())
                if not in_flight:
                    return
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for listing in done:
                    account, recorded, listed_at = in_flight.pop(listing)
                    try:
                        self._reconciled(account, recorded, listing.result(), listed_at, now, summary)
                    except UpstreamRateLimited:
                        scanner.rate.rate_limited()  # SendGrid pushes back: leave it to the teams for this run
                        summary.rate_limited += 1
                    except Exception as failure:
                        if refused_account(account, failure):
                            self._set_aside(account, failure, now, summary)
                        else:
                            summary.errors += 1
                            logger.exception("reconcile failed", extra={"account": account})

    def _set_aside(self, account: str, failure: BaseException, now: int, summary: ScanSummary) -> None:
        """An account SendGrid refuses is looked at again after the idle interval (it may come back, e.g. a
        pin corrected), counted apart from errors so the run still succeeds and alarms stay meaningful."""
        next_at = now + self.scanner.config.reconcile_idle_seconds
        try:
            self.scanner.accounts.postpone(account, next_at)
        except Exception:
            summary.errors += 1
            logger.exception("could not set aside an account SendGrid refuses", extra={"account": account})
            return
        summary.unreconcilable += 1
        logger.warning(
            "account not reconcilable: SendGrid refuses it",
            extra={"account": account, "reason": str(failure), "next_reconcile_at": next_at},
        )

    def _reconciled(
        self,
        account: str,
        recorded: dict[str, Batch],
        answer: UpstreamResponse,
        listed_at: int,
        now: int,
        summary: ScanSummary,
    ) -> None:
        scanner, store = self.scanner, self.scanner.store
        scanner.rate.observe(answer.headers)
        if answer.status != 200:
            failure = ListNotFound if answer.status == 404 else RuntimeError
            raise failure(f"SendGrid answered {answer.status} to the list")
        upstream, slots = listed_statuses(answer.body, account)
        for batch_id in upstream:
            row = recorded.get(batch_id) or store.get(account, batch_id)
            if row is None or row.status not in FINISHED_STATUSES or row.leased(now):
                continue
            if scanner.config.slot_reclaim == "auto":
                scanner.reclaim(row, f"{row.status} but still listed by SendGrid", summary)
                if row.entry_left:  # left while SlotReclaim was notify: deleted now, so no longer counted
                    entry_gone(store, row, listed_at, now)
            elif not row.entry_left:
                entry_still_listed(store, row, listed_at, now)
        drift = 0
        previous_list_at = partial(scanner.accounts.last_reconciled_at, account)  # read only if a repair needs it
        for fixed in repair_rows(store, account, recorded, upstream, listed_at, now, previous_list_at):
            scanner.events.publish(
                bus.DRIFT,
                detail_of(
                    fixed.row,
                    event_id=event_id_of_drift(fixed),
                    kind=fixed.kind,
                    sendgrid_status=fixed.sendgrid_status,
                    recorded_status=fixed.before,
                ),
            )
            drift += 1
        paused = tuple(
            sorted(b.expires_at for b in store.active(account) if b.status == "pause" and b.expires_at is not None)
        )
        record = AccountRecord(account, slots, paused)
        config = scanner.config
        scanner.accounts.reconciled(
            record,
            now,
            next_reconcile_at(now, slots, config.reconcile_active_seconds, config.reconcile_idle_seconds),
        )
        summary.reconciled += 1
        summary.drift += drift
        summary.slots_in_use[account] = slots
        # One line per account: the per-account figures live in the log (the metrics are aggregates).
        logger.info(
            "account reconciled",
            extra={"account": account, "slots_in_use": slots, "drift": drift, "paused": len(paused)},
        )


def event_id_of_drift(fixed: Repair) -> str:
    """A drift is one write (its row version): the same repair, republished, keeps its id."""
    return event_id(bus.DRIFT, fixed.row, fixed.kind, fixed.row.version)
