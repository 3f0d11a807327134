"""Recording what an operation changed, after SendGrid applied it: where a batch's row is written for the API (the
batches table through `BatchStore.change`), with the change's record (who made it, with which request, from which
status), write retries, the account's registration for reconcile, and the metrics of failed writes.

SendGrid first, then the table: a failed record is logged and counted, never the caller's error (the scanner's
reconcile repairs the row); only the first row of a new batch id is retried until it is written (`record_or_fail`).
The table's stream announces each recorded change as an event (the template's ChangeEventsPipe).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from aws_lambda_powertools.metrics import MetricUnit

from ..adapters.accounts import AccountRegistry
from ..adapters.batches_table import UNREAD, BatchStore
from ..domain import changes, projection
from ..domain.backoff import full_jitter
from ..domain.batch import Batch
from ..domain.errors import ServiceError, StateUnavailable
from ..runtime.clock import Clock
from ..runtime.observability import logger, metrics
from ..runtime.settings import Settings
from .caller import Caller


class LeaseLost(Exception):
    """The change's lease ended and someone else took the batch before its record was written."""


def state_write_failed(message: str, **extra: Any) -> None:
    """A table write after SendGrid succeeded failed: logged and counted, never the caller's error."""
    logger.exception(message, extra=extra)
    metrics.add_metric(name="StateWriteFailed", unit=MetricUnit.Count, value=1)


class Recorder:
    """Writes one caller's outcomes: the batch's row, its change record, the account's registration."""

    def __init__(
        self,
        caller: Caller,
        request_id: str,
        store: BatchStore,
        accounts: AccountRegistry,
        clock: Clock,
        config: Settings,
    ) -> None:
        self.caller, self.request_id = caller, request_id
        self.store, self.accounts, self.clock, self.config = store, accounts, clock, config

    def register_first(self) -> None:
        """Register the account for reconcile before anything is forwarded for it (SendGrid vouches for it), so a
        change whose answer is lost is still watched. A failed write stops the request: 503, nothing forwarded."""
        try:
            self.accounts.remember(self.caller.account)
        except Exception:
            state_write_failed("could not register the account for reconcile", account=self.caller.account)
            raise StateUnavailable(
                "the service could not register the account for its reconcile; nothing was sent to SendGrid, try again",
                headers={"Retry-After": "1"},
            ) from None

    def register_account(self) -> None:
        """Register the account for reconcile once SendGrid has served it (an account nothing vouched for before
        the call: a name SendGrid refused is never registered, or every scanner run would fail on it). Every
        account the service acts for is registered, so the scanner's reconcile watches it (whoever acted)."""
        try:
            self.accounts.remember(self.caller.account)
        except Exception:
            state_write_failed("could not register the account for reconcile", account=self.caller.account)

    def reconcile_now(self) -> None:
        """The table is known to disagree with SendGrid's list: reconcile the account at the scanner's next run (which
        repairs its rows and announces each repair)."""
        try:
            self.accounts.reconcile_by(self.caller.account, self.clock.now())
        except Exception:
            state_write_failed("could not bring the account's reconcile forward", account=self.caller.account)

    def record_change(
        self,
        batch_id: str,
        operation: str,
        status: str | None,
        edit: Callable[[Batch], Batch],
        now: int,
        region: str | None,
        current: Batch | object | None = UNREAD,
        *,
        lease_owner: str,
        projected: bool = False,
    ) -> Batch | None:
        """Record a status change SendGrid has applied (in `region`) under the change's lease (`lease_owner`): the
        row `edit` makes (from the current one), with `status` set at `now` and the change itself (who made it, with
        which request, from which status), in one write made only while the row is still leased to it, which gives
        the lease up. `projected`: a pause or cancel held with its slot in one transaction (`hold_taking_slot`) is
        recorded from the row's projection without reading it, and from the row when that no longer fits. The
        table's stream announces it (the template's ChangeEventsPipe); the log line below is the audit record the
        saved query "who changed batch X" reads, written whether or not the row could be recorded."""
        caller = self.caller
        detail_type = changes.detail_type(operation, status)
        event_id = changes.event_id(detail_type, caller.account, batch_id, self.request_id, lease_owner)
        seen: list[Batch | None] = []

        def change_to(new: Batch, previous: Batch | None) -> Batch:
            change = changes.Change(
                event_id=event_id,
                detail_type=detail_type,
                changed_by=caller.owner,
                caller=caller.principal,
                request_id=self.request_id,
                changed_at=now,
                previous_status=previous.status if previous else None,
                status=status,
                owner=new.owner,
                on_behalf_of=caller.on_behalf_of,
                region=str(region),
            )
            return replace(new, change=change)

        def changed(row: Batch | None) -> Batch | None:
            seen.append(row)
            if row is not None and row.change is not None and row.change.event_id == event_id:
                return None  # already recorded (a write whose answer was lost): the row stands
            if row is None or row.lease_owner != lease_owner:
                raise LeaseLost(f"batch {batch_id} is no longer leased to this change")
            new = edit(caller.new_row(batch_id, row)).with_status(status, now)
            return change_to(replace(new, lease_owner=None, lease_until=None), row)

        recorded = None
        if projected:
            assert status is not None
            base = Batch(caller.account, batch_id, owner=None)  # what the hold's conditions checked: no status
            held = projection.held(caller.new_row(batch_id, base), status, now)
            recorded = self._record_projected(change_to(held, base), lease_owner)
            if recorded is not None:
                seen.append(base)
        if recorded is None:
            recorded = self.record(batch_id, changed, current, slots_with_row=True)
        last_seen = seen[-1] if seen else (current if isinstance(current, Batch) else None)
        logger.info(
            "scheduled send changed",
            extra={
                "batch_id": batch_id,
                "account": caller.account,
                "change": detail_type,
                "changed_by": caller.owner,
                "caller": caller.principal,
                "request_id": self.request_id,
                "previous_status": changes.status_name(last_seen.status if last_seen else None),
                "status": changes.status_name(status),
                "event_id": recorded.change.event_id if recorded and recorded.change else None,
                "recorded": recorded is not None,
            },
        )
        return recorded

    def _record_projected(self, held: Batch, lease_owner: str) -> Batch | None:
        """The projected record (`BatchStore.record_projected`), stamped with the time it is written (as `record`'s
        are: a slot check trusts a row unwritten since its list); None when it does not fit or failed (the caller
        records from the row instead, which knows whether this write was made)."""
        try:
            return self.store.record_projected(held, lease_owner, self.clock.now())
        except Exception:
            logger.exception("recording from the row's projection failed", extra={"batch_id": held.batch_id})
            return None

    def record(
        self, batch_id: str, edit: Any, current: Batch | object | None = UNREAD, slots_with_row: bool = False
    ) -> Batch | None:
        """Write the outcome after SendGrid succeeded; never turn a table failure into the caller's error.
        `current` is the row the operation read to authorize (None: known not to exist), which saves a read.

        Every check of the caller's input runs before SendGrid is called (the command is parsed first), so `edit`
        only applies checked values. Should a caller's mistake (a 4xx) still surface here, it is a bug of ours and
        is answered, never swallowed as a failed write: the caller hears of the mistake and that SendGrid had
        applied the request."""
        try:
            return self.store.change(self.caller.account, batch_id, edit, self.clock.now(), current, slots_with_row)
        except ServiceError as error:
            if error.status >= 500:
                state_write_failed("state write failed after SendGrid succeeded", batch_id=batch_id)
                return None
            logger.exception(
                "a caller's mistake was found after SendGrid applied the request", extra={"batch_id": batch_id}
            )
            metrics.add_metric(name="ValidationAfterSideEffect", unit=MetricUnit.Count, value=1)
            raise type(error)(
                f"{error.message}; note: SendGrid had already applied this request, and this service did not record "
                "it (its scanner reconciles the status with SendGrid)",
                field=error.field,
                extra=error.extra,
                headers=error.headers,
            ) from None
        except Exception:
            state_write_failed("state write failed after SendGrid succeeded", batch_id=batch_id)
            return None

    def record_or_fail(self, batch_id: str, edit: Any, attempts: int = 3) -> Batch:
        """Write the first row of a batch SendGrid just made, retried with backoff within the request's
        deadline; StateUnavailable (503) when it cannot be written."""
        for attempt in range(attempts):
            try:
                written = self.store.change(
                    self.caller.account, batch_id, edit, self.clock.now(), None if attempt == 0 else UNREAD
                )
                return cast(Batch, written)  # `edit` always makes a row
            except Exception:
                logger.exception("ownership record failed", extra={"batch_id": batch_id, "attempt": attempt + 1})
            delay = full_jitter(attempt, 0.05, 0.5)
            remaining = self.clock.remaining_seconds()
            if attempt + 1 == attempts or (remaining is not None and remaining < delay + 1.0):
                break
            self.clock.sleep(delay)
        metrics.add_metric(name="StateWriteFailed", unit=MetricUnit.Count, value=1)
        raise StateUnavailable(
            "the batch id could not be recorded for you, so it was not handed out; nothing was scheduled or "
            "changed, try again"
        )
