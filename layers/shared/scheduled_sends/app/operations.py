"""One function per SendGrid "Cancel Scheduled Sends" operation, each `(request, services) -> response`.

Each parses its request once into a command (`domain.commands`: the body's shape, batch id, status, send times,
expiry action), decides who may act (`caller`), checks the window and the slot quota, makes exactly one SendGrid
call (`upstream`), then records the outcome (`recording`: SendGrid first, then the table; a failed record is logged
and counted, the caller still gets SendGrid's answer, and the scanner's reconcile repairs the row). A status change
(POST, PATCH or DELETE of a scheduled send) is recorded with who made it; the table's stream turns that record into
the change's event. Only what SendGrid expects is forwarded: a rebuilt body of its own fields, a validated batch id
in the path and a validated `on-behalf-of`; our extension fields (`send_at`, `expiry_action`) are stripped.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ..adapters.sendgrid.client import UpstreamResponse, api_path
from ..domain import changes, commands, ops_view, ownership, validation
from ..domain.batch import ACTIVE_STATUSES, Batch
from ..domain.errors import BadRequest, UpstreamUnavailable
from ..runtime.observability import logger
from .acting import Acting, acting_for, authorized
from .caller import Caller
from .contract import ApiRequest, ApiResponse
from .holding import hold_batch, hold_taking_slot
from .ops_queries import accounts_holding
from .services import Services
from .slot_check import LIMIT_MESSAGE, sendgrid_refused, take_slot

_STATUS_EXISTS = "a status for this batch id exists"


def _answer(upstream: UpstreamResponse, body: Any = None) -> ApiResponse:
    text = upstream.body if body is None else json.dumps(body)
    return ApiResponse(upstream.status, text, upstream.headers)


def _extension(batch: Batch | None) -> dict[str, Any]:
    """Our fields beside SendGrid's own (which keep their names and types); each time also in ISO-8601 UTC."""
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
    times = {"send_at": batch.send_at, "last_send_at": batch.last_send_at, "expires_at": batch.expires_at}
    fields |= {f"{name}_iso": ops_view.iso(seconds) for name, seconds in times.items()}
    return {key: value for key, value in fields.items() if value is not None or key == "owner"}


def _with_extension(sendgrid_fields: dict[str, Any], row: Batch | None) -> dict[str, Any]:
    """SendGrid's answer, plus our fields when the row was recorded (a failed record adds nothing)."""
    return sendgrid_fields if row is None else {**sendgrid_fields, **_extension(row)}


def _applied_by_an_earlier_attempt(
    acting: Acting, batch_id: str, status: str, refusal: UpstreamResponse
) -> UpstreamResponse:
    """A retried pause/cancel whose first attempt SendGrid applied (its answer was lost) is a success when
    SendGrid now holds exactly the status that was asked; otherwise SendGrid's refusal stands."""
    current = acting.upstream.forward("GET", api_path("user", "scheduled_sends", batch_id))
    if current.status == 200 and json.loads(current.body) == [{"batch_id": batch_id, "status": status}]:
        return replace(refusal, status=201, body=json.dumps({"batch_id": batch_id, "status": status}))
    return refusal


def _batch_id_from_sendgrid(created: Any) -> str:
    """The batch id SendGrid created; one we cannot use is SendGrid's fault (502), not a caller's mistake."""
    try:
        return validation.batch_id(created.get("batch_id") if isinstance(created, dict) else None)
    except BadRequest:
        raise UpstreamUnavailable("SendGrid answered a batch id this service cannot use; try again later") from None


def create_batch_id(request: ApiRequest, services: Services) -> ApiResponse:
    """POST /v3/mail/batch — SendGrid takes no body; ours may carry send_at and expiry_action. With an
    Idempotency-Key header, a repeat (same account, owner and key) gets the first answer."""
    command = commands.create_batch_id(request.body, request.on_behalf_of, services.clock.now())
    if request.idempotency_key is None:
        return _create(acting_for(request.principal, request.on_behalf_of, request.request_id, services), command)
    caller = Caller(request.principal, request.on_behalf_of, services.config)

    def create_remembered(request: dict[str, Any]) -> dict[str, Any]:
        """The first answer, as Powertools keeps it (the key's repeats get it); the acting caller is the one the
        remembered request names, as the idempotency record holds it."""
        acting = acting_for(request["principal"], request["on_behalf_of"], "", services)
        remembered = commands.CreateBatchId(
            request["on_behalf_of"],
            commands.SendTimes(request["send_at"], request.get("last_send_at")),
            request["expiry_action"],
            request["body"],
        )
        response = _create(acting, remembered)
        return {"status": response.status, "body": response.body, "headers": response.headers}

    create_remembered.__qualname__ = create_remembered.__name__ = "_create_remembered"  # the records' function key
    remembered = services.idempotency.once(
        create_remembered,
        {
            "account": caller.account,
            "owner": caller.owner,
            "key": request.idempotency_key,
            "body": command.body,
            "on_behalf_of": request.on_behalf_of,
            "principal": request.principal,
            "send_at": command.times.send_at,
            "last_send_at": command.times.last_send_at,
            "expiry_action": command.expiry_action,
        },
    )
    return ApiResponse(remembered["status"], remembered["body"], remembered["headers"])


def _create(acting: Acting, command: commands.CreateBatchId) -> ApiResponse:
    """Without its ownership record a batch id is of no use to its creator (with UnknownBatchPolicy=refuse
    every later call on it is a 403), so the record is retried within the deadline and, if it still cannot
    be written, the caller gets a 503 and no batch id (SendGrid's unused id holds nothing and costs nothing)."""
    upstream = acting.upstream.forward("POST", api_path("mail", "batch"))
    if upstream.status != 201:
        return _answer(upstream)
    created = json.loads(upstream.body)
    batch_id = _batch_id_from_sendgrid(created)
    row = acting.recorder.record_or_fail(
        batch_id,
        lambda current: replace(
            acting.caller.new_row(batch_id, current, creating=True),
            send_at=command.times.send_at,
            last_send_at=command.times.last_send_at,
            expiry_action=command.expiry_action,
        ),
    )
    return _answer(upstream, _with_extension(created, row))


def _not_in_the_parent(acting: Acting, batch_id: str, row: Batch | None, upstream: UpstreamResponse) -> ApiResponse:
    """SendGrid's refusal of a batch id an admin asked the parent account about, when the table has no row for it
    there, with a second error naming the accounts the table holds that batch id for (their `on-behalf-of`), or
    how to look, and those accounts beside (`accounts`). SendGrid's own error stays first and unchanged (clients
    match on it). Anyone else, or with an `on-behalf-of`, or a batch the parent's row knows, gets SendGrid's answer
    as it is."""
    caller = acting.caller
    if not (caller.is_admin and caller.on_behalf_of is None and row is None and upstream.status in (400, 404)):
        return _answer(upstream)
    try:
        held = accounts_holding(acting.services.store, batch_id, acting.services.accounts.all())
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


def validate_batch_id(request: ApiRequest, services: Services) -> ApiResponse:
    """GET /v3/mail/batch/{batch_id}"""
    command = commands.on_batch(request.path_parameters.get("batch_id"), request.on_behalf_of)
    acting = acting_for(request.principal, command.on_behalf_of, request.request_id, services)
    batch_id, caller = command.batch_id, acting.caller
    row = authorized(acting, batch_id)
    upstream = acting.upstream.forward("GET", api_path("mail", "batch", batch_id))
    if upstream.status == 200 and (row is None or row.owner is None) and not caller.is_admin:
        acting.recorder.record(batch_id, lambda current: caller.new_row(batch_id, current), row)  # the first claims it
    if upstream.status != 200:
        return _not_in_the_parent(acting, batch_id, row, upstream)
    return _answer(upstream)


def list_scheduled_sends(request: ApiRequest, services: Services) -> ApiResponse:
    """GET /v3/user/scheduled_sends — the caller's own batches (admins: all), with our fields beside SendGrid's."""
    command = commands.ListSends(request.on_behalf_of)
    acting = acting_for(request.principal, command.on_behalf_of, request.request_id, services)
    upstream = acting.upstream.forward("GET", api_path("user", "scheduled_sends"))
    if upstream.status != 200:
        return _answer(upstream)
    store, caller = services.store, acting.caller
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


def _gives_back(upstream: UpstreamResponse) -> bool:
    """SendGrid certainly holds no slot for a refused pause or cancel: a caller's error it answered (not one of an
    attempt whose earlier answer was lost, and not "a status exists": that batch does hold one)."""
    return 400 <= upstream.status < 500 and not upstream.uncertain and _STATUS_EXISTS not in upstream.body


def pause_or_cancel(request: ApiRequest, services: Services) -> ApiResponse:
    """POST /v3/user/scheduled_sends with {"batch_id", "status"} (+ our send_at, expiry_action). Before SendGrid is
    called, the batch is held (who may act and the window checked in the same write) and its slot taken in the
    account's ledger (for a team, in one transaction: `hold_taking_slot`); after, the change is recorded and the hold
    given up in one write."""
    now = services.clock.now()
    command = commands.pause_or_cancel(request.body, request.on_behalf_of, now)
    acting = acting_for(request.principal, command.on_behalf_of, request.request_id, services)
    batch_id, status = command.batch_id, command.status
    hold = hold_taking_slot(acting, command, now) or hold_batch(acting, batch_id, command.times, now)  # 403/400/409
    try:
        if not hold.slot_taken:
            take_slot(acting, hold, now)  # "max limit reached", naming the rule, when no slot may be taken
        upstream = acting.upstream.forward(
            "POST", api_path("user", "scheduled_sends"), {"batch_id": batch_id, "status": status}
        )
        if upstream.uncertain and upstream.status == 400 and _STATUS_EXISTS in upstream.body:
            upstream = _applied_by_an_earlier_attempt(acting, batch_id, status, upstream)
        if upstream.status == 400 and LIMIT_MESSAGE in upstream.body:
            hold.release(give_back=_gives_back(upstream))
            raise sendgrid_refused(acting, batch_id, now)
        if upstream.status != 201:
            hold.release(give_back=_gives_back(upstream))
            return _answer(upstream)
        recorded = hold.record_change(batch_id, changes.PAUSE_OR_CANCEL, status, command.stated, now)
        return _answer(upstream, _with_extension(json.loads(upstream.body), recorded))
    finally:
        hold.release()


def get_scheduled_send(request: ApiRequest, services: Services) -> ApiResponse:
    """GET /v3/user/scheduled_sends/{batch_id} — SendGrid answers an array of one entry."""
    command = commands.on_batch(request.path_parameters.get("batch_id"), request.on_behalf_of)
    acting = acting_for(request.principal, command.on_behalf_of, request.request_id, services)
    row = authorized(acting, command.batch_id)
    upstream = acting.upstream.forward("GET", api_path("user", "scheduled_sends", command.batch_id))
    if upstream.status != 200:
        return _not_in_the_parent(acting, command.batch_id, row, upstream)
    return _answer(upstream, [{**entry, **_extension(row)} for entry in json.loads(upstream.body)])


def update_scheduled_send(request: ApiRequest, services: Services) -> ApiResponse:
    """PATCH /v3/user/scheduled_sends/{batch_id} with {"status"} (+ our expiry_action, send_at, last_send_at:
    the owner may state or correct when the batch sends at any time it changes the status)."""
    now = services.clock.now()
    command = commands.update_scheduled_send(
        request.path_parameters.get("batch_id"), request.body, request.on_behalf_of, now
    )
    acting = acting_for(request.principal, command.on_behalf_of, request.request_id, services)
    batch_id, status = command.batch_id, command.status
    hold = hold_batch(acting, batch_id, command.times, now)  # 403, 400, or 409 while someone else holds it
    try:
        upstream = acting.upstream.forward("PATCH", api_path("user", "scheduled_sends", batch_id), {"status": status})
        if upstream.status == 204:
            hold.record_change(batch_id, changes.UPDATE, status, command.stated, now)
        return _answer(upstream)
    finally:
        hold.release()


def resume_scheduled_send(request: ApiRequest, services: Services) -> ApiResponse:
    """DELETE /v3/user/scheduled_sends/{batch_id} — removing the cancel/pause resumes a paused send."""
    command = commands.on_batch(request.path_parameters.get("batch_id"), request.on_behalf_of)
    acting = acting_for(request.principal, command.on_behalf_of, request.request_id, services)
    batch_id = command.batch_id
    hold = hold_batch(acting, batch_id, None, services.clock.now())  # 403, or 409 while someone else holds it
    try:
        upstream = acting.upstream.forward("DELETE", api_path("user", "scheduled_sends", batch_id))
        if upstream.uncertain and upstream.status == 404 and hold.row.status in ACTIVE_STATUSES:
            # The table says SendGrid held a status: an earlier attempt removed it and its answer was lost. (When the
            # table says there was none, the lost answer was this same 404: nothing was resumed.)
            upstream = replace(upstream, status=204, body="")
        if upstream.status == 204:
            hold.record_change(batch_id, changes.RESUME, None, lambda batch: batch, services.clock.now())
        return _answer(upstream)
    finally:
        hold.release()
