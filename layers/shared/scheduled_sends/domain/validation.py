"""Pure checks of caller input. Nothing here does I/O; every failure is a `BadRequest` naming the field."""

from __future__ import annotations

import json
import re
from typing import Any

from .batch import ACTIVE_STATUSES, EXPIRY_ACTIONS
from .errors import BadRequest

BATCH_ID_MAX_LENGTH = 128
ON_BEHALF_OF_MAX_LENGTH = 256

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,%d}" % BATCH_ID_MAX_LENGTH)
# Printable ASCII only: no CR/LF/TAB/NUL/DEL can reach an upstream header.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")
_ON_BEHALF_OF = re.compile(r"[\x20-\x7e]{1,%d}" % ON_BEHALF_OF_MAX_LENGTH)


def batch_id(value: Any) -> str:
    if not isinstance(value, str) or not _BATCH_ID.fullmatch(value):
        raise BadRequest(
            f"invalid batch id: it must be 1-{BATCH_ID_MAX_LENGTH} characters of a-z, A-Z, 0-9, '-' and '_'",
            field="batch_id",
        )
    return value


def status(value: Any) -> str:
    if value not in ACTIVE_STATUSES:
        raise BadRequest("status must be 'cancel' or 'pause'", field="status")
    return str(value)


def on_behalf_of(values: list[str]) -> str | None:
    """The `on-behalf-of` header, checked: at most one value, printable ASCII without a comma, bounded length."""
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("on-behalf-of may be given only once", field="on-behalf-of")
    value = values[0].strip()
    if not _ON_BEHALF_OF.fullmatch(value):
        raise BadRequest(
            f"on-behalf-of must be 1-{ON_BEHALF_OF_MAX_LENGTH} printable ASCII characters",
            field="on-behalf-of",
        )
    if "," in value:
        # HTTP joins repeated header lines with commas (RFC 9110, section 5.3): "a,b" cannot be told from two
        # headers, and SendGrid takes one subuser username (or "account-id <id>") here.
        raise BadRequest(
            "on-behalf-of names one subuser or account-id; a comma is how repeated headers are joined, "
            "so it cannot be part of one",
            field="on-behalf-of",
        )
    return value


def idempotency_key(values: list[str]) -> str | None:
    if not values:
        return None
    if len(values) > 1 or not _IDEMPOTENCY_KEY.fullmatch(values[0]):
        raise BadRequest("Idempotency-Key must be one value of 1-128 visible ASCII characters", field="Idempotency-Key")
    return values[0]


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BadRequest(f"duplicate key {key!r} in the JSON body", field=key)
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object(body: str | None, allowed: frozenset[str], required: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Parse a request body that must be a JSON object with only `allowed` keys and all `required` ones."""
    if body is None or body == "":  # no body; whitespace alone is not JSON (nor a body SendGrid takes)
        document: Any = {}
    else:
        try:
            document = json.loads(body, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
        except (ValueError, RecursionError):
            raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadRequest("the request body must be a JSON object")
    unknown = sorted(set(document) - allowed)
    if unknown:
        allowed_text = ", ".join(sorted(allowed)) or "none"
        raise BadRequest(f"unknown field {unknown[0]!r} (allowed: {allowed_text})", field=unknown[0])
    for name in sorted(required):
        if name not in document:
            raise BadRequest(f"{name} is required", field=name)
    return document


def send_at(value: Any, field: str = "send_at") -> int:
    """Unix seconds, as SendGrid's own `send_at` (also `last_send_at`)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{field} must be a unix timestamp in seconds (an integer)", field=field)
    return value


def expiry_action(value: Any) -> str | None:
    """What the scanner does shortly before a paused batch expires; null clears it."""
    if value is not None and value not in EXPIRY_ACTIONS:
        raise BadRequest("expiry_action must be 'resume', 'cancel' or null", field="expiry_action")
    return None if value is None else str(value)
