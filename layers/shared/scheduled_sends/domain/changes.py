"""A change made through the API: who made it, with which request, from which status to which, and which event
announces it.

The operations record a `Change` on the batch's row in the same conditional write as the status, and the table's
stream carries it to the bus (the template's `ChangeEventsPipe`): the event and the state come from one write, so
they cannot disagree, and no event is lost when a function dies after the write. The event's fields are stored on
the row exactly as the event carries them (strings, never null: a pipe's input template cannot write a null), so
the pipe copies them without logic; `NO_STATUS` and `""` stand for "none".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

PAUSED = "Scheduled Send Paused"
CANCELLED = "Scheduled Send Cancelled"
STATUS_CHANGED = "Scheduled Send Status Changed"
RESUMED = "Scheduled Send Resumed"
DETAIL_TYPES = (PAUSED, CANCELLED, STATUS_CHANGED, RESUMED)
NO_STATUS = "none"  # a batch with no cancel or pause at SendGrid (its mail goes out at send_at)

# The API operations that change a status, by HTTP method.
PAUSE_OR_CANCEL = "POST"
UPDATE = "PATCH"
RESUME = "DELETE"

_EVENT_NAMESPACE = uuid.UUID("0b9e3f52-7c1d-4e6a-9f20-5d8c4a1b7e33")


def detail_type(operation: str, status: str | None) -> str:
    """The event's detail-type, decided by the operation that made the change (and, for POST, the status it set):
    POST -> Paused or Cancelled, PATCH -> Status Changed, DELETE -> Resumed."""
    if operation == PAUSE_OR_CANCEL:
        return PAUSED if status == "pause" else CANCELLED
    if operation == UPDATE:
        return STATUS_CHANGED
    if operation == RESUME:
        return RESUMED
    raise ValueError(f"{operation} changes no status")


def event_id(detail_type_: str, account: str, batch_id: str, request_id: str, hold: str) -> str:
    """One id per change: `hold`, the lease the change held its batch under, is unique to the change (even for
    requests without an id) and known before the row is read, so a record written without reading the row, and
    every retry of it, carries the same id. It is stored with the change, so every delivery of the event (the
    stream is read at least once) carries it."""
    name = "|".join((detail_type_, account, batch_id, request_id, hold))
    return str(uuid.uuid5(_EVENT_NAMESPACE, name))


def status_name(status: str | None) -> str:
    return NO_STATUS if status is None else status


def status_of(name: str) -> str | None:
    return None if name == NO_STATUS else name


def iso_time(seconds: int) -> str:
    """RFC 3339, as an event's `time` (and `changed_at`)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Change:
    """The last change made through the API to a batch, as its event tells it."""

    event_id: str
    detail_type: str
    changed_by: str  # the principal as owners and admins are compared (an assumed role's sessions are the role)
    caller: str  # the principal exactly as it was authenticated (an assumed role's session ARN; team:<name>)
    request_id: str  # API Gateway's request id (also the correlation_id of the operation's log lines)
    changed_at: int
    previous_status: str | None  # as the service had recorded it
    status: str | None  # as SendGrid now holds it
    owner: str | None  # the batch's owner (None: nobody owns it; an admin acted)
    on_behalf_of: str | None  # None: the parent account
    region: str  # the SendGrid region the change was made in ("global" or "eu")
