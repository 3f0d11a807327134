"""Reconcile: the accounts whose turn has come, each one's rows against SendGrid's own list (`repair`), SendGrid
being the source of truth. The scanner runs it after its due batches; it uses nothing of the scanner's.

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
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial

from ..adapters import event_bus as bus
from ..adapters.accounts import AccountRecord, AccountRegistry
from ..adapters.batches_table import BatchStore
from ..adapters.event_bus import EventBus
from ..adapters.sendgrid.client import UpstreamResponse, api_path
from ..adapters.sendgrid.router import RegionalSendGrid
from ..domain import ownership
from ..domain.batch import FINISHED_STATUSES, Batch
from ..domain.errors import SubuserNotListed, UpstreamKeyRejected, UpstreamRateLimited
from ..domain.scan_limits import RateShare, next_reconcile_at
from ..runtime.clock import Clock
from ..runtime.observability import logger
from ..runtime.settings import Settings
from .event_detail import detail_of, event_id
from .reclaim import SlotReclaimer
from .repair import Repair, agree_ledger, entry_gone, entry_still_listed, listed_statuses, repair_rows
from .scan_summary import ScanSummary


class ListNotFound(Exception):
    """SendGrid answered 404 to an account's list."""


def refused_account(account: str, failure: BaseException) -> bool:
    """Whether the account itself is what SendGrid refuses (retrying cannot help), rather than a passing
    failure: a subuser its list does not name, or a 401/403/404 for that on-behalf-of. The parent's key being
    rejected stays an error: nothing would work."""
    if isinstance(failure, SubuserNotListed):
        return True
    subuser = ownership.on_behalf_of_of(account) is not None
    return subuser and isinstance(failure, UpstreamKeyRejected | ListNotFound)


class Reconciler:
    """Reconcile the accounts whose turn has come, longest overdue first, with at most `scan_concurrency`
    SendGrid lists in flight, while the run has time and SendGrid's rate-limit window has the scanner's share
    left. Table work stays on the run's own thread; only SendGrid calls go to the pool."""

    def __init__(
        self,
        store: BatchStore,
        accounts: AccountRegistry,
        sendgrid: RegionalSendGrid,
        events: EventBus,
        config: Settings,
        clock: Clock,
        rate: RateShare,
        reclaimer: SlotReclaimer,
    ) -> None:
        self.store, self.accounts, self.sendgrid, self.events = store, accounts, sendgrid, events
        self.config, self.clock, self.rate, self.reclaimer = config, clock, rate, reclaimer

    def reconcile_due(self, now: int, summary: ScanSummary, has_time: Callable[[], bool]) -> None:
        config, rate, clock = self.config, self.rate, self.clock
        accounts = self.accounts.due(now)
        in_flight: dict[Future[UpstreamResponse], tuple[str, dict[str, Batch], int]] = {}
        with ThreadPoolExecutor(max_workers=config.scan_concurrency, thread_name_prefix="reconcile") as pool:
            while True:
                while (
                    len(in_flight) < config.scan_concurrency
                    and has_time()
                    and rate.allows_a_call(clock.now(), len(in_flight))
                ):
                    account = next(accounts, None)
                    if account is None:
                        break
                    recorded = {b.batch_id: b for b in self.store.active(account)}  # read before the list
                    rate.spend()
                    # In the run's context: its container (the local runner's is per function) and its deadline.
                    listing = pool.submit(
                        contextvars.copy_context().run,
                        self.sendgrid.call,
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
                        rate.rate_limited()  # SendGrid pushes back: leave it to the teams for this run
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
        next_at = now + self.config.reconcile_idle_seconds
        try:
            self.accounts.postpone(account, next_at)
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
        store = self.store
        self.rate.observe(answer.headers)
        if answer.status != 200:
            failure = ListNotFound if answer.status == 404 else RuntimeError
            raise failure(f"SendGrid answered {answer.status} to the list")
        upstream, slots = listed_statuses(answer.body, account)
        for batch_id in upstream:
            row = recorded.get(batch_id) or store.get(account, batch_id)
            if row is None or row.status not in FINISHED_STATUSES or row.leased(now):
                continue
            if self.config.slot_reclaim == "auto":
                self.reclaimer.reclaim(row, f"{row.status} but still listed by SendGrid", summary)
                if row.entry_left:  # left while SlotReclaim was notify: deleted now, so no longer counted
                    entry_gone(store, row, listed_at, now)
            elif not row.entry_left:
                entry_still_listed(store, row, listed_at, now)
        drift = 0
        previous_list_at = partial(self.accounts.last_reconciled_at, account)  # read only if a repair needs it
        for fixed in repair_rows(store, account, recorded, upstream, listed_at, now, previous_list_at):
            self.events.publish(
                bus.DRIFT,
                detail_of(
                    self.sendgrid,
                    fixed.row,
                    event_id=event_id_of_drift(fixed),
                    kind=fixed.kind,
                    sendgrid_status=fixed.sendgrid_status,
                    recorded_status=fixed.before,
                ),
            )
            drift += 1
        holding = store.active(account)
        agree_ledger(store, account, now, listed_at, holding)  # takes no change holds any more are given back
        paused = tuple(sorted(b.expires_at for b in holding if b.status == "pause" and b.expires_at is not None))
        record = AccountRecord(account, slots, paused)
        config = self.config
        self.accounts.reconciled(
            record,
            now,
            next_reconcile_at(now, slots, config.reconcile_active_seconds, config.reconcile_idle_seconds),
            listed_at,
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
