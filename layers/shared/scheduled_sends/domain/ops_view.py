"""The on-call view of batches: how an operator reads one (every time also in ISO-8601 UTC, the time left in
words), the order the admin routes list them in (soonest expiry first, unknown expiry last) and the opaque
position a listing continues from. Pure: no I/O, so every rule here has a fast unit test."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from .batch import Batch
from .changes import Change, iso_time, status_name
from .errors import BadRequest
from .ownership import PARENT_ACCOUNT, account_key, on_behalf_of_of
from .validation import on_behalf_of

HISTORY_LIMIT = 20  # changes kept on a batch's row (newest first); older ones are in the event archive
DEFAULT_PAGE = 50
MAX_PAGE = 100
LISTED_STATUSES = ("pause", "cancel", "expired", "discarded", "none")
UNKNOWN_EXPIRY = "~"  # sorts after every digit: batches with no known expiry come last
_EXPIRY_DIGITS = 10  # epoch seconds until the year 2286
_DURATION = re.compile(r"(?P<amount>\d{1,9})(?P<unit>[smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_POSITION = re.compile(r"(?:\d{10}|~)#.+#[A-Za-z0-9_-]{1,128}")
_TOKEN_VERSION = 1


def iso(seconds: int | None) -> str | None:
    """`2026-12-04T21:47:08Z` (UTC), or None."""
    return None if seconds is None else iso_time(seconds)


def with_iso(document: dict[str, Any], *names: str) -> dict[str, Any]:
    """The document with `<name>_iso` beside each epoch-seconds field `name` (None stays None)."""
    return {**document, **{f"{name}_iso": iso(document.get(name)) for name in names}}


def time_left_text(seconds_left: int | None) -> str:
    """How a person reads the time left: "47 min left", "5 h 12 min left", "2 d 3 h left", "expired 3 min ago"."""
    if seconds_left is None:
        return "expiry unknown"
    if seconds_left < 0:
        return f"expiry passed {span(-seconds_left)} ago"
    return f"{span(seconds_left)} left"


def span(seconds: int, *, days_from_hours: int = 24) -> str:
    """A length of time as a person says it: "45 s", "47 min", "5 h 12 min", "2 d 3 h"; counted in days from
    `days_from_hours` hours on (the command-line tool says "47 h" up to two days)."""
    minutes = seconds // 60
    if minutes < 1:
        return f"{seconds} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < days_from_hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def parse_duration(text: str | None, field: str) -> int | None:
    """Seconds from `3600`, `90m`, `1h`, `2d` (None when absent); 400 otherwise."""
    if text is None:
        return None
    found = _DURATION.fullmatch(text)
    if not found:
        raise BadRequest(f"{field} must be seconds or a number with s, m, h or d (e.g. 3600, 90m, 1h, 2d)", field=field)
    return int(found["amount"]) * _UNIT_SECONDS[found["unit"]]


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}", field="limit")
    return int(text)


def parse_statuses(text: str | None) -> tuple[str, ...]:
    """`pause`, `pause,cancel`; absent = every status. 400 for a status the table never holds."""
    if text is None:
        return LISTED_STATUSES
    wanted = tuple(dict.fromkeys(text.split(",")))
    unknown = [status for status in wanted if status not in LISTED_STATUSES]
    if unknown:
        choices = ", ".join(LISTED_STATUSES)
        raise BadRequest(f"status must be one or more of {choices} (comma-separated)", field="status")
    return wanted


def account_of(text: str | None) -> str | None:
    """The table's account from the form a caller writes `on-behalf-of` in (a subuser's name, `account-id <id>`),
    or `parent`; None when absent. The same name check as the `on-behalf-of` header's."""
    if text is None:
        return None
    if text == PARENT_ACCOUNT:
        return PARENT_ACCOUNT
    try:
        name = on_behalf_of([text])
    except BadRequest:
        name = None
    if name is None:
        raise BadRequest('account must be a subuser name, "account-id <id>" or "parent"', field="account")
    return account_key(name)


def account_name(account: str) -> str:
    """How an operator writes an account (`--account`): the `on-behalf-of` form, or `parent`."""
    return on_behalf_of_of(account) or PARENT_ACCOUNT


def expiry_order(expires_at: int | None, account: str, batch_id: str) -> str:
    """The listing's sort key: the expiry (zero-padded, `~` when unknown) then the account and the batch id, so
    every row has its own place in one total order (batch ids hold no `#`)."""
    head = UNKNOWN_EXPIRY if expires_at is None else f"{max(expires_at, 0):0{_EXPIRY_DIGITS}d}"
    return f"{head}#{account}#{batch_id}"


def expiry_upper_bound(until: int) -> str:
    """The greatest sort key of a batch expiring at `until` or before."""
    return f"{max(until, 0):0{_EXPIRY_DIGITS}d}#\U0010ffff"


def query_fingerprint(query: dict[str, Any]) -> str:
    """What a page token is bound to: the query's filters (a token is refused for any other query)."""
    return hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:16]


def encode_token(position: str, fingerprint: str) -> str:
    raw = json.dumps({"v": _TOKEN_VERSION, "after": position, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str | None, fingerprint: str) -> str | None:
    """The position a page token continues after; 400 for a token that is not one of ours or belongs to another
    query. The query's conditions come from the request, never the token: a token only moves within them."""
    if token is None:
        return None
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        document = None
    if (
        not isinstance(document, dict)
        or document.get("v") != _TOKEN_VERSION
        or not isinstance(document.get("after"), str)
        or not _POSITION.fullmatch(document["after"])
    ):
        raise BadRequest("next_token is not a token this service handed out", field="next_token")
    if document.get("q") != fingerprint:
        raise BadRequest("next_token belongs to another query; repeat the query it came from", field="next_token")
    return str(document["after"])


def seconds_left(batch: Batch, now: int) -> int | None:
    return None if batch.expires_at is None else batch.expires_at - now


def batch_view(batch: Batch, now: int, region: str | None) -> dict[str, Any]:
    """One batch as the admin routes, the widget and the console show it (null where unknown)."""
    view = {
        "batch_id": batch.batch_id,
        "account": account_name(batch.account),
        "on_behalf_of": on_behalf_of_of(batch.account),
        "region": region,
        "owner": batch.owner,
        "status": status_name(batch.status),
        "send_at": batch.send_at,
        "last_send_at": batch.last_send_at,
        "expires_at": batch.expires_at,
        "expires_at_basis": batch.expires_at_basis,
        "seconds_left": seconds_left(batch, now),
        "expiry_action": batch.expiry_action,
        "updated_at": batch.updated_at,
    }
    return with_iso(view, "send_at", "last_send_at", "expires_at", "updated_at")


def history_view(history: Iterable[Change]) -> list[dict[str, Any]]:
    """A batch's recorded changes, newest first, each time also in ISO-8601."""
    return [
        {
            "changed_by": change.changed_by,
            "caller": change.caller,
            "changed_at": change.changed_at,
            "changed_at_iso": iso(change.changed_at),
            "previous_status": status_name(change.previous_status),
            "status": status_name(change.status),
            "detail_type": change.detail_type,
            "request_id": change.request_id,
            "event_id": change.event_id,
        }
        for change in history
    ]
