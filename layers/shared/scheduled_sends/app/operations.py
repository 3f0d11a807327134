"""One function per SendGrid "Cancel Scheduled Sends" operation.

Each validates, checks ownership and the guardrails, makes exactly one SendGrid call, then records
the outcome (SendGrid first, then the table: a failed record is logged and counted, the caller still
gets SendGrid's answer, and the scanner's reconcile repairs the row). A status change (POST, PATCH or DELETE
of a scheduled send) is recorded with who made it; the table's stream turns that record into the change's
event. Only what SendGrid expects is forwarded: a rebuilt body of its own fields, a validated batch id in the
path and a validated `on-behalf-of`; our extension fields (`send_at`, `expiry_action`) are stripped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..adapters.accounts import account_registry
from ..adapters.batches_table import batch_store
from ..adapters.sendgrid.client import UpstreamResponse, api_path
from ..domain import changes, ownership, scan_plan, send_windows, slot_quota, validation
from ..domain.batch import Batch
from ..domain.errors import BadRequest, UpstreamUnavailable
from ..runtime import clock
from ..runtime.observability import logger
from ..runtime.settings import settings
from . import idempotency
from .caller import Caller
from .contract import ApiRequest, ApiResponse
from .ops_queries import accounts_holding
from .reconcile import listed_statuses, repair_rows

_SEND_TIMES = frozenset({"send_at", "last_send_at"})
_CREATE_FIELDS = _SEND_TIMES | {"expiry_action"}
_PAUSE_FIELDS = _SEND_TIMES | {"batch_id", "status", "expiry_action"}
_PAUSE_REQUIRED = frozenset({"batch_id", "status"})
_UPDATE_FIELDS = _SEND_TIMES | {"status", "expiry_action"}
_UPDATE_REQUIRED = frozenset({"status"})
_LIMIT_MESSAGE = "max limit reached"
_STATUS_EXISTS = "a status for this batch id exists"


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _answer(upstream: UpstreamResponse, body: Any = None) -> ApiResponse:
    text = upstream.body if body is None else json.dumps(body)
    return ApiResponse(upstream.status, text, upstream.headers)


def _extension(batch: Batch | None) -> dict[str, Any]:
    """Our fields beside SendGrid's own (which keep their names and types)."""
    if batch is None:
        return {"owner": None}
    fields = {
        "owner": batch.owner,
        "send_at": batch.send_at,
        "last_send_at": batch.last_send_at,
        "expires_at": batch.expires_at,
        "expires_at_basis": batch.expires_at_basis,
        "expiry_action": batch.expiry_action,
    }
    return {key: value for key, value in fields.items() if value is not None or key == "owner"}


def _with_extension(sendgrid_fields: dict[str, Any], row: Batch | None) -> dict[str, Any]:
    """SendGrid's answer, plus our fields when the row was recorded (a failed record adds nothing)."""
    return sendgrid_fields if row is None else {**sendgrid_fields, **_extension(row)}


def _path_batch_id(request: ApiRequest) -> str:
    return validation.batch_id(request.path_parameters.get("batch_id"))


def _new_send_at(document: dict[str, Any], now: int, name: str = "send_at") -> int | None:
    if name not in document:
        return None
    value = validation.send_at(document[name], field=name)
    problem = send_windows.send_at_problem(value, now)
    if problem:
        raise BadRequest(problem.replace("send_at", name, 1), field=name)
    return value


class _SendTimes:
    """The owner's statement of when the batch sends, checked before anything is forwarded: `send_at` the
    earliest, `last_send_at` the latest (a batch id may group several sends); each kept from the row when
    the body leaves it out."""

    def __init__(self, document: dict[str, Any], now: int) -> None:
        self.send_at = _new_send_at(document, now)
        self.last_send_at = _new_send_at(document, now, "last_send_at")
        problem = send_windows.send_times_problem(self.send_at, self.last_send_at)
        if problem:
            raise BadRequest(problem, field="last_send_at")

    def earliest(self, row: Batch | None) -> int | None:
        return self.send_at if self.send_at is not None else (row.send_at if row else None)

    def applied(self, batch: Batch) -> Batch:
        send_at = self.earliest(batch)
        last = self.last_send_at if self.last_send_at is not None else batch.last_send_at
        problem = send_windows.send_times_problem(send_at, last)
        if problem:  # a new send_at after the recorded last one: the recorded last one no longer holds
            last = None
        return replace(batch, send_at=send_at, last_send_at=last)


def _action_edit(document: dict[str, Any]) -> Callable[[Batch], Batch]:
    """The row edit for `expiry_action`, checked now (before anything is forwarded): set it when the body
    names it (null clears it), leave the row's own otherwise."""
    if "expiry_action" not in document:
        return lambda batch: batch
    action = validation.expiry_action(document["expiry_action"])
    return lambda batch: replace(batch, expiry_action=action)


def _stated(times: _SendTimes, with_action: Callable[[Batch], Batch]) -> Callable[[Batch], Batch]:
    """The row edit of a pause, cancel or PATCH besides its status: the send times and expiry_action it stated."""
    return lambda batch: with_action(times.applied(batch))


def _check_window(send_at: int | None, now: int) -> None:
    if not send_windows.change_window_open(send_at, now):
        assert send_at is not None
        raise BadRequest(
            f"too late to pause or cancel: the window closed at {_iso(send_windows.window_closes_at(send_at))}, "
            f"10 minutes before send_at {_iso(send_at)}; SendGrid does not guarantee a change after that",
            field="send_at",
        )


def _check_windows(row: Batch | None, times: _SendTimes, now: int) -> None:
    """A status change must come before the 10-minute window of the batch's send_at closes; a restated later
    send_at cannot reopen a window the recorded one has closed (SendGrid may already be sending)."""
    recorded = row.send_at if row else None
    if send_windows.restated_send_at_reopens_window(recorded, times.send_at, now):
        assert recorded is not None
        raise BadRequest(
            f"too late to pause or cancel: send_at is recorded as {_iso(recorded)} and its window closed at "
            f"{_iso(send_windows.window_closes_at(recorded))}; a correction that moves send_at later is accepted only "
            "while the recorded window is open, because SendGrid may already be sending",
            field="send_at",
        )
    _check_window(times.earliest(row), now)


def _applied_by_an_earlier_attempt(
    caller: Caller, batch_id: str, status: str, refusal: UpstreamResponse
) -> UpstreamResponse:
    """A retried pause/cancel whose first attempt SendGrid applied (its answer was lost) is a success when
    SendGrid now holds exactly the status that was asked; otherwise SendGrid's refusal stands."""
    current = caller.forward("GET", api_path("user", "scheduled_sends", batch_id))
    if current.status == 200 and json.loads(current.body) == [{"batch_id": batch_id, "status": status}]:
        return replace(refusal, status=201, body=json.dumps({"batch_id": batch_id, "status": status}))
    return refusal


def _held_per_sendgrid(caller: Caller, batch_id: str, held: list[Batch], now: int) -> list[Batch]:
    """The table says every slot is held: ask SendGrid's own list before refusing (a lost answer or a change
    made outside the service leaves the table behind), repair the rows it shows wrong, and return what holds
    the account's slots now. A stale table can never refuse a pause on its own word."""
    listed_at = clock.now()
    answer = caller.forward("GET", api_path("user", "scheduled_sends"))
    if answer.status != 200:
        return held  # SendGrid cannot tell us: the table's word stands (SendGrid would refuse at 10 anyway)
    upstream, _ = listed_statuses(answer.body, caller.account)
    recorded = {b.batch_id: b for b in held}
    for fixed in repair_rows(batch_store(), caller.account, recorded, upstream, listed_at, now):
        logger.info(
            "slot check repaired a row from SendGrid's list",
            extra={"batch_id": fixed.row.batch_id, "kind": fixed.kind, "status": fixed.sendgrid_status},
        )
    return [b for b in batch_store().active(caller.account) if b.batch_id != batch_id and b.batch_id in upstream]


def _slot_refusal(caller: Caller, held: list[Batch]) -> str | None:
    return slot_quota.slot_refusal((b.owner for b in held), caller.owner, caller.is_admin, settings().slots_per_team)


def _which_limit(rule: str, caller: Caller, held: list[Batch]) -> str:
    """What refused, after SendGrid's own "max limit reached" (which callers match, so it stays first)."""
    limit = slot_quota.MAX_ACTIVE_BATCHES
    if rule == slot_quota.TEAM_QUOTA:
        quota = settings().slots_per_team
        own = slot_quota.slots_held_by(caller.owner, (b.owner for b in held))
        return (
            f"you hold {own} of the {quota} pause/cancel slots one team may hold in this account "
            f"({len(held)} of SendGrid's {limit} are held; rule: team quota, SlotsPerTeam)"
        )
    if rule == slot_quota.ADMIN_RESERVE:
        return (
            f"{len(held)} of SendGrid's {limit} pause/cancel slots are held in this account and the last slot is "
            "kept for admins (rule: admin reserve, so an emergency stop always fits)"
        )
    if len(held) >= limit:
        return f"{len(held)} of SendGrid's {limit} pause/cancel slots are held in this account (rule: SendGrid's limit)"
    return (
        f"SendGrid refused: all {limit} of its pause/cancel slots are held in this account, {len(held)} of them "
        "known to this service (rule: SendGrid's limit)"
    )


def _limit_reached(caller: Caller, held: list[Batch], now: int, rule: str) -> BadRequest:
    """SendGrid's 'max limit reached', saying which rule refused, which slots are held and which the service
    can reclaim."""
    own = [b for b in held if caller.may_see(b)]
    others = len(held) - len(own)
    slots = [
        {"batch_id": b.batch_id, "status": b.status, "owner": b.owner, "reclaimable": scan_plan.reclaimable(b, now)}
        for b in own
    ]
    named = ", ".join(f"{s['batch_id']} ({s['status']}{', reclaimable' if s['reclaimable'] else ''})" for s in slots)
    message = (
        f"{_LIMIT_MESSAGE}: {_which_limit(rule, caller, held)}"
        + (f"; visible to you: {named}" if named else "")
        + (f"; {others} held by other teams" if others else "")
        + "; resume (DELETE) or wait for the scanner to reclaim one"
    )
    return BadRequest(message, extra={"rule": rule, "slots": slots, "slots_held_by_others": others})


def create_batch_id(request: ApiRequest) -> ApiResponse:
    """POST /v3/mail/batch — SendGrid takes no body; ours may carry send_at and expiry_action. With an
    Idempotency-Key header, a repeat (same account, owner and key) gets the first answer."""
    document = validation.json_object(request.body, allowed=_CREATE_FIELDS)
    times = _SendTimes(document, clock.now())
    send_at, last_send_at = times.send_at, times.last_send_at
    action = validation.expiry_action(document.get("expiry_action"))
    if request.idempotency_key is None:
        return _create(Caller(request), send_at, last_send_at, action)
    caller = Caller(request)
    remembered = idempotency.once(
        _create_remembered,
        {
            "account": caller.account,
            "owner": caller.owner,
            "key": request.idempotency_key,
            "body": document,
            "on_behalf_of": request.on_behalf_of,
            "principal": request.principal,
            "send_at": send_at,
            "last_send_at": last_send_at,
            "expiry_action": action,
        },
    )
    return ApiResponse(remembered["status"], remembered["body"], remembered["headers"])


def _create_remembered(request: dict[str, Any]) -> dict[str, Any]:
    caller = Caller(ApiRequest("POST", {}, None, request["on_behalf_of"], request["principal"], request_id=""))
    response = _create(caller, request["send_at"], request.get("last_send_at"), request["expiry_action"])
    return {"status": response.status, "body": response.body, "headers": response.headers}


def _batch_id_from_sendgrid(created: Any) -> str:
    """The batch id SendGrid created; one we cannot use is SendGrid's fault (502), not a caller's mistake."""
    try:
        return validation.batch_id(created.get("batch_id") if isinstance(created, dict) else None)
    except BadRequest:
        raise UpstreamUnavailable("SendGrid answered a batch id this service cannot use; try again later") from None


def _create(caller: Caller, send_at: int | None, last_send_at: int | None, action: str | None) -> ApiResponse:
    """Without its ownership record a batch id is of no use to its creator (with UnknownBatchPolicy=refuse
    every later call on it is a 403), so the record is retried within the deadline and, if it still cannot
    be written, the caller gets a 503 and no batch id (SendGrid's unused id holds nothing and costs nothing)."""
    upstream = caller.forward("POST", api_path("mail", "batch"))
    if upstream.status != 201:
        return _answer(upstream)
    created = json.loads(upstream.body)
    batch_id = _batch_id_from_sendgrid(created)
    row = caller.record_or_fail(
        batch_id,
        lambda current: replace(
            caller.new_row(batch_id, current, creating=True),
            send_at=send_at,
            last_send_at=last_send_at,
            expiry_action=action,
        ),
    )
    return _answer(upstream, _with_extension(created, row))


def _not_in_the_parent(caller: Caller, batch_id: str, row: Batch | None, upstream: UpstreamResponse) -> ApiResponse:
    """SendGrid's refusal of a batch id an admin asked the parent account about, when the table has no row for it
    there, with a second error naming the accounts the table holds that batch id for (their `on-behalf-of`), or
    how to look, and those accounts beside (`accounts`). SendGrid's own error stays first and unchanged (clients
    match on it). Anyone else, or with an `on-behalf-of`, or a batch the parent's row knows, gets SendGrid's answer
    as it is."""
    if not (caller.is_admin and caller.request.on_behalf_of is None and row is None and upstream.status in (400, 404)):
        return _answer(upstream)
    try:
        held = accounts_holding(batch_store(), batch_id, account_registry().all())
        others = [account for account in held if account != ownership.PARENT_ACCOUNT]
    except Exception:
        logger.exception("could not look up which accounts hold a batch id", extra={"batch_id": batch_id})
        return _answer(upstream)
    if others:
        where = ", ".join(f'"on-behalf-of: {name}"' for name in others)
        hint = f"this service's table holds batch id {batch_id} for another account: send {where}"
    else:
        hint = (
            f"this service's table holds batch id {batch_id} for no account; GET /v3/ops/batches lists every "
            "account's batches"
        )
    try:
        sendgrid_errors = list(json.loads(upstream.body)["errors"])
    except (ValueError, KeyError, TypeError):
        return _answer(upstream)
    ours = {"field": "on-behalf-of", "message": f"asked in the parent account (no on-behalf-of); {hint}"}
    body = {"errors": [*sendgrid_errors, ours], "accounts": others}
    return ApiResponse(upstream.status, json.dumps(body), upstream.headers)


def validate_batch_id(request: ApiRequest) -> ApiResponse:
    """GET /v3/mail/batch/{batch_id}"""
    batch_id = _path_batch_id(request)
    caller = Caller(request)
    row = caller.authorize(batch_id)
    upstream = caller.forward("GET", api_path("mail", "batch", batch_id))
    if upstream.status == 200 and (row is None or row.owner is None) and not caller.is_admin:
        caller.record(batch_id, lambda current: caller.new_row(batch_id, current), row)  # the first caller claims it
    if upstream.status != 200:
        return _not_in_the_parent(caller, batch_id, row, upstream)
    return _answer(upstream)


def list_scheduled_sends(request: ApiRequest) -> ApiResponse:
    """GET /v3/user/scheduled_sends — the caller's own batches (admins: all), with our fields beside SendGrid's."""
    caller = Caller(request)
    upstream = caller.forward("GET", api_path("user", "scheduled_sends"))
    if upstream.status != 200:
        return _answer(upstream)
    store = batch_store()
    known = {b.batch_id: b for b in store.active(caller.account)}
    shown = []
    for entry in json.loads(upstream.body):
        batch_id = entry.get("batch_id")
        row = known.get(batch_id)
        if row is None and isinstance(batch_id, str):
            row = store.get(caller.account, batch_id)
        if caller.may_see(row):
            shown.append({**entry, **_extension(row)})
    return _answer(upstream, shown)


def _checked_status_change(
    request: ApiRequest, document: dict[str, Any], batch_id: str, now: int
) -> tuple[str, Callable[[Batch], Batch], Caller, Batch | None]:
    """What a pause, cancel or PATCH checks before SendGrid is called, in this order: the status, the owner's
    send times and expiry action, who may act on the batch, and the 10-minute window. Returns the status, the
    row edit for what the owner stated, the caller and the batch's row."""
    status = validation.status(document["status"])
    times = _SendTimes(document, now)
    with_action = _action_edit(document)
    caller = Caller(request)
    row = caller.authorize(batch_id)
    _check_windows(row, times, now)
    return status, _stated(times, with_action), caller, row


def pause_or_cancel(request: ApiRequest) -> ApiResponse:
    """POST /v3/user/scheduled_sends with {"batch_id", "status"} (+ our send_at, expiry_action)."""
    now = clock.now()
    document = validation.json_object(request.body, allowed=_PAUSE_FIELDS, required=_PAUSE_REQUIRED)
    batch_id = validation.batch_id(document["batch_id"])
    status, stated, caller, row = _checked_status_change(request, document, batch_id, now)
    held = [b for b in batch_store().active(caller.account) if b.batch_id != batch_id]
    if _slot_refusal(caller, held) is not None:  # the table's word alone never refuses: SendGrid is asked
        held = _held_per_sendgrid(caller, batch_id, held, now)
        refused_by = _slot_refusal(caller, held)
        if refused_by is not None:
            raise _limit_reached(caller, held, now, refused_by)
    upstream = caller.forward("POST", api_path("user", "scheduled_sends"), {"batch_id": batch_id, "status": status})
    if upstream.uncertain and upstream.status == 400 and _STATUS_EXISTS in upstream.body:
        upstream = _applied_by_an_earlier_attempt(caller, batch_id, status, upstream)
    if upstream.status == 400 and _LIMIT_MESSAGE in upstream.body:
        raise _limit_reached(caller, held, now, slot_quota.SENDGRID_LIMIT)
    if upstream.status != 201:
        return _answer(upstream)

    caller.holds_a_slot_now()
    recorded = caller.record_change(batch_id, changes.PAUSE_OR_CANCEL, status, stated, now, row)
    return _answer(upstream, _with_extension(json.loads(upstream.body), recorded))


def get_scheduled_send(request: ApiRequest) -> ApiResponse:
    """GET /v3/user/scheduled_sends/{batch_id} — SendGrid answers an array of one entry."""
    batch_id = _path_batch_id(request)
    caller = Caller(request)
    row = caller.authorize(batch_id)
    upstream = caller.forward("GET", api_path("user", "scheduled_sends", batch_id))
    if upstream.status != 200:
        return _not_in_the_parent(caller, batch_id, row, upstream)
    return _answer(upstream, [{**entry, **_extension(row)} for entry in json.loads(upstream.body)])


def update_scheduled_send(request: ApiRequest) -> ApiResponse:
    """PATCH /v3/user/scheduled_sends/{batch_id} with {"status"} (+ our expiry_action, send_at, last_send_at:
    the owner may state or correct when the batch sends at any time it changes the status)."""
    now = clock.now()
    batch_id = _path_batch_id(request)
    document = validation.json_object(request.body, allowed=_UPDATE_FIELDS, required=_UPDATE_REQUIRED)
    status, stated, caller, row = _checked_status_change(request, document, batch_id, now)
    upstream = caller.forward("PATCH", api_path("user", "scheduled_sends", batch_id), {"status": status})
    if upstream.status == 204:
        caller.record_change(batch_id, changes.UPDATE, status, stated, now, row)
    return _answer(upstream)


def resume_scheduled_send(request: ApiRequest) -> ApiResponse:
    """DELETE /v3/user/scheduled_sends/{batch_id} — removing the cancel/pause resumes a paused send."""
    batch_id = _path_batch_id(request)
    caller = Caller(request)
    row = caller.authorize(batch_id)
    upstream = caller.forward("DELETE", api_path("user", "scheduled_sends", batch_id))
    if upstream.uncertain and upstream.status == 404:
        upstream = replace(upstream, status=204, body="")  # an earlier attempt removed it, its answer was lost
    if upstream.status == 204:
        caller.record_change(batch_id, changes.RESUME, None, lambda batch: batch, clock.now(), row)
    return _answer(upstream)
