"""The commands the operations act on: each built once from a request by the functions below, typed and frozen,
so the application works on values already checked (parse, then act). A parser raises the first `BadRequest` in a
fixed order (the body's shape, the batch id, the status, `send_at`, `last_send_at`, then `expiry_action`); who may
act and the change window are the application's checks, made after it, on the batch's row.

Only what SendGrid expects is forwarded from a command: the batch id and status; our extension fields (`send_at`,
`last_send_at`, `expiry_action`) are recorded in the batch's row, never sent to SendGrid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from . import validation
from .batch import Batch
from .errors import BadRequest
from .send_windows import send_at_problem, send_times_problem

_SEND_TIMES = frozenset({"send_at", "last_send_at"})
_CREATE_FIELDS = _SEND_TIMES | {"expiry_action"}
_PAUSE_FIELDS = _SEND_TIMES | {"batch_id", "status", "expiry_action"}
_PAUSE_REQUIRED = frozenset({"batch_id", "status"})
_UPDATE_FIELDS = _SEND_TIMES | {"status", "expiry_action"}
_UPDATE_REQUIRED = frozenset({"status"})


@dataclass(frozen=True)
class SendTimes:
    """The owner's statement of when the batch sends: `send_at` the earliest, `last_send_at` the latest (a batch
    id may group several sends); None where the body left it out (the row's own is kept)."""

    send_at: int | None = None
    last_send_at: int | None = None

    def earliest(self, row: Batch | None) -> int | None:
        return self.send_at if self.send_at is not None else (row.send_at if row else None)

    def applied(self, batch: Batch) -> Batch:
        send_at = self.earliest(batch)
        last = self.last_send_at if self.last_send_at is not None else batch.last_send_at
        if send_times_problem(send_at, last):  # a new send_at after the recorded last one: that one no longer holds
            last = None
        return replace(batch, send_at=send_at, last_send_at=last)


@dataclass(frozen=True)
class CreateBatchId:
    """POST /v3/mail/batch: SendGrid takes no body; ours may carry the send times and the expiry action."""

    on_behalf_of: str | None
    times: SendTimes
    expiry_action: str | None
    body: dict[str, Any] = field(hash=False)  # as sent: an Idempotency-Key's repeat must send the same


@dataclass(frozen=True)
class OnBatch:
    """An operation on one batch id from the path (validate, get, resume)."""

    on_behalf_of: str | None
    batch_id: str


@dataclass(frozen=True)
class ListSends:
    """GET /v3/user/scheduled_sends."""

    on_behalf_of: str | None


@dataclass(frozen=True)
class ChangeStatus:
    """A pause or cancel (POST) or a status change (PATCH), with what the owner stated besides the status: the
    send times and, when the body names it (`states_expiry_action`), the expiry action (null clears it)."""

    on_behalf_of: str | None
    batch_id: str
    status: str
    times: SendTimes
    expiry_action: str | None = None
    states_expiry_action: bool = False

    def stated(self, batch: Batch) -> Batch:
        """The row edit besides the status: the send times and the expiry action stated."""
        batch = self.times.applied(batch)
        return replace(batch, expiry_action=self.expiry_action) if self.states_expiry_action else batch


def _new_send_at(document: dict[str, Any], now: int, name: str = "send_at") -> int | None:
    if name not in document:
        return None
    value = validation.send_at(document[name], field=name)
    problem = send_at_problem(value, now)
    if problem:
        raise BadRequest(problem.replace("send_at", name, 1), field=name)
    return value


def _send_times(document: dict[str, Any], now: int) -> SendTimes:
    times = SendTimes(_new_send_at(document, now), _new_send_at(document, now, "last_send_at"))
    problem = send_times_problem(times.send_at, times.last_send_at)
    if problem:
        raise BadRequest(problem, field="last_send_at")
    return times


def create_batch_id(body: str | None, on_behalf_of: str | None, now: int) -> CreateBatchId:
    document = validation.json_object(body, allowed=_CREATE_FIELDS)
    times = _send_times(document, now)
    return CreateBatchId(on_behalf_of, times, validation.expiry_action(document.get("expiry_action")), document)


def on_batch(path_batch_id: str | None, on_behalf_of: str | None) -> OnBatch:
    return OnBatch(on_behalf_of, validation.batch_id(path_batch_id))


def _change_status(document: dict[str, Any], batch_id: str, on_behalf_of: str | None, now: int) -> ChangeStatus:
    status = validation.status(document["status"])
    times = _send_times(document, now)
    if "expiry_action" not in document:
        return ChangeStatus(on_behalf_of, batch_id, status, times)
    return ChangeStatus(
        on_behalf_of, batch_id, status, times, validation.expiry_action(document["expiry_action"]), True
    )


def pause_or_cancel(body: str | None, on_behalf_of: str | None, now: int) -> ChangeStatus:
    document = validation.json_object(body, allowed=_PAUSE_FIELDS, required=_PAUSE_REQUIRED)
    return _change_status(document, validation.batch_id(document["batch_id"]), on_behalf_of, now)


def update_scheduled_send(
    path_batch_id: str | None, body: str | None, on_behalf_of: str | None, now: int
) -> ChangeStatus:
    batch_id = validation.batch_id(path_batch_id)
    document = validation.json_object(body, allowed=_UPDATE_FIELDS, required=_UPDATE_REQUIRED)
    return _change_status(document, batch_id, on_behalf_of, now)
