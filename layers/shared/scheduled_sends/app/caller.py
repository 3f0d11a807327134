"""Who is asking, for which account, and what they may do: ownership and admin checks, in one place.

The principal that creates (or, with UnknownBatchPolicy=claim, first touches) a batch owns it; admins
(AdminPrincipals) may act on any batch. A caller forwards to SendGrid and records outcomes for its account; a
status change is recorded with who made it (`record_change`), which the table's stream announces as an event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ..adapters.accounts import account_registry
from ..adapters.batches_table import UNREAD, batch_store
from ..adapters.sendgrid.client import UpstreamResponse
from ..adapters.sendgrid.wiring import sendgrid_client
from ..domain import changes, ownership
from ..domain.backoff import full_jitter
from ..domain.batch import Batch
from ..domain.errors import Forbidden, ServiceError, StateUnavailable
from ..runtime import clock
from ..runtime.observability import logger, metrics
from ..runtime.settings import settings
from .contract import ApiRequest


def state_write_failed(message: str, **extra: Any) -> None:
    """A table write after SendGrid succeeded failed: logged and counted, never the caller's error."""
    logger.exception(message, extra=extra)
    metrics.add_metric(name="StateWriteFailed", unit=MetricUnit.Count, value=1)


class Caller:
    """Who is asking, for which account, and what they may do."""

    def __init__(self, request: ApiRequest) -> None:
        self.request = request
        self.account = ownership.account_key(request.on_behalf_of)
        self.owner = ownership.owner_of(request.principal)
        self.admins = settings().admin_principals
        self.is_admin = ownership.is_admin(self.owner, self.admins)
        self.region: str | None = None  # the SendGrid region of the account, once a call has gone there

    def may_see(self, batch: Batch | None) -> bool:
        return ownership.may_act(self.owner, batch.owner if batch else None, self.admins)

    def authorize(self, batch_id: str) -> Batch | None:
        """The batch's row when the caller may act on it; 403 otherwise."""
        batch = batch_store().get(self.account, batch_id)
        if batch is None or batch.owner is None:
            if self.is_admin or settings().unknown_batch_policy == "claim":
                return batch
            raise Forbidden(self._no_owner(batch_id), field="batch_id")
        if not self.may_see(batch):
            raise Forbidden(f"batch id {batch_id} belongs to another team", field="batch_id")
        return batch

    def _no_owner(self, batch_id: str) -> str:
        """Why a batch id nobody owns here is refused, naming the account asked for: batch ids are kept per account,
        so one created for the parent is unknown to a subuser (and the other way round)."""
        on_behalf_of = self.request.on_behalf_of
        account = f"the account on-behalf-of {on_behalf_of}" if on_behalf_of else "the parent account (no on-behalf-of)"
        hint = (
            "send the same on-behalf-of as when the batch id was created (none for the parent account)"
            if on_behalf_of
            else "if it was created for a subuser, send that subuser's name in on-behalf-of"
        )
        return (
            f"this service has no owner on record for batch id {batch_id} in {account}; batch ids belong to the "
            f"account they were created for: {hint}, or create batch ids with POST /v3/mail/batch through this service"
        )

    def forward(self, method: str, path: str, body: dict[str, Any] | None = None) -> UpstreamResponse:
        """One SendGrid call for this account. Every account the service acts for is registered, so the
        scanner's reconcile watches it (whoever acted: owner, claimer or admin)."""
        client = sendgrid_client()
        self.region = client.region_of(self.request.on_behalf_of)  # where the call goes (and a change is made)
        answer = client.call(method, path, on_behalf_of=self.request.on_behalf_of, body=body)
        if 200 <= answer.status < 300:
            self._register()
        return answer

    def _register(self) -> None:
        """Register the account for reconcile once SendGrid has served it: a name SendGrid refused (a typo,
        a deleted subuser) is never registered, or every scanner run would fail on it."""
        try:
            account_registry().remember(self.account)
        except Exception:
            state_write_failed("could not register the account for reconcile", account=self.account)

    def record_change(
        self,
        batch_id: str,
        operation: str,
        status: str | None,
        edit: Callable[[Batch], Batch],
        now: int,
        current: Batch | object | None = UNREAD,
    ) -> Batch | None:
        """Record a status change SendGrid has applied: the row `edit` makes (from the current one), with `status`
        set at `now` and the change itself (who made it, with which request, from which status), in one write. The
        table's stream announces it (the template's ChangeEventsPipe); the log line below is the audit record the
        saved query "who changed batch X" reads, written whether or not the row could be recorded."""
        seen: list[Batch | None] = []

        def changed(row: Batch | None) -> Batch:
            seen.append(row)
            new = edit(self.new_row(batch_id, row)).with_status(status, now)
            detail_type = changes.detail_type(operation, status)
            change = changes.Change(
                event_id=changes.event_id(
                    detail_type, self.account, batch_id, self.request.request_id, row.version if row else 0
                ),
                detail_type=detail_type,
                changed_by=self.owner,
                caller=self.request.principal,
                request_id=self.request.request_id,
                changed_at=now,
                previous_status=row.status if row else None,
                status=status,
                owner=new.owner,
                on_behalf_of=self.request.on_behalf_of,
                region=str(self.region),
            )
            return replace(new, change=change)

        recorded = self.record(batch_id, changed, current)
        last_seen = seen[-1] if seen else (current if isinstance(current, Batch) else None)
        logger.info(
            "scheduled send changed",
            extra={
                "batch_id": batch_id,
                "account": self.account,
                "change": changes.detail_type(operation, status),
                "changed_by": self.owner,
                "caller": self.request.principal,
                "request_id": self.request.request_id,
                "previous_status": changes.status_name(last_seen.status if last_seen else None),
                "status": changes.status_name(status),
                "event_id": recorded.change.event_id if recorded and recorded.change else None,
                "recorded": recorded is not None,
            },
        )
        return recorded

    def holds_a_slot_now(self) -> None:
        """A pause or cancel was just set: the account is reconciled within the active interval from now on
        (an idle account was scheduled hours ahead)."""
        try:
            account_registry().reconcile_by(self.account, clock.now() + settings().reconcile_active_seconds)
        except Exception:
            state_write_failed("could not bring the account's reconcile forward", account=self.account)

    def record(self, batch_id: str, edit: Any, current: Batch | object | None = UNREAD) -> Batch | None:
        """Write the outcome after SendGrid succeeded; never turn a table failure into the caller's error.
        `current` is the row read by `authorize` (None: known not to exist), which saves a read.

        Every check of the caller's input runs before SendGrid is called, so `edit` only applies checked values.
        Should a caller's mistake (a 4xx) still surface here, it is a bug of ours and is answered, never
        swallowed as a failed write: the caller hears of the mistake and that SendGrid had applied the request."""
        try:
            return batch_store().change(self.account, batch_id, edit, clock.now(), current)
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
                return batch_store().change(  # type: ignore[return-value]  # its edit always returns a row
                    self.account, batch_id, edit, clock.now(), None if attempt == 0 else UNREAD
                )
            except Exception:
                logger.exception("ownership record failed", extra={"batch_id": batch_id, "attempt": attempt + 1})
            delay = full_jitter(attempt, 0.05, 0.5)
            remaining = clock.remaining_seconds()
            if attempt + 1 == attempts or (remaining is not None and remaining < delay + 1.0):
                break
            time.sleep(delay)
        metrics.add_metric(name="StateWriteFailed", unit=MetricUnit.Count, value=1)
        raise StateUnavailable(
            "the batch id could not be recorded for you, so it was not handed out; nothing was scheduled or "
            "changed, try again"
        )

    def new_row(self, batch_id: str, current: Batch | None, creating: bool = False) -> Batch:
        """The row to edit: the current one, or one owned by the caller when it creates or claims the batch.
        An admin acting on a batch nobody owns leaves it unowned."""
        if current is not None and current.owner is not None:
            return current
        base = current or Batch(account=self.account, batch_id=batch_id, owner=None)
        return replace(base, owner=self.owner) if creating or not self.is_admin else base
