"""One function per SendGrid "Cancel Scheduled Sends" operation: validate, then make exactly one upstream call.

Only what SendGrid expects is forwarded: a rebuilt body of known fields, a validated batch id in the
path and a validated `on-behalf-of`; nothing else of the caller's request reaches SendGrid.
"""

from __future__ import annotations

from typing import Any

from . import validation
from .api import ApiRequest, ApiResponse
from .sendgrid import UpstreamResponse, api_path, sendgrid_client

_NO_FIELDS: frozenset[str] = frozenset()
_PAUSE_FIELDS = frozenset({"batch_id", "status"})
_UPDATE_FIELDS = frozenset({"status"})


def _forward(request: ApiRequest, method: str, path: str, body: dict[str, Any] | None = None) -> ApiResponse:
    upstream: UpstreamResponse = sendgrid_client().call(method, path, on_behalf_of=request.on_behalf_of, body=body)
    return ApiResponse(upstream.status, upstream.body, upstream.headers)


def _path_batch_id(request: ApiRequest) -> str:
    return validation.batch_id(request.path_parameters.get("batch_id"))


def create_batch_id(request: ApiRequest) -> ApiResponse:
    """POST /v3/mail/batch — SendGrid takes no body; an empty JSON object is accepted too."""
    validation.json_object(request.body, allowed=_NO_FIELDS)
    return _forward(request, "POST", api_path("mail", "batch"))


def validate_batch_id(request: ApiRequest) -> ApiResponse:
    """GET /v3/mail/batch/{batch_id}"""
    return _forward(request, "GET", api_path("mail", "batch", _path_batch_id(request)))


def list_scheduled_sends(request: ApiRequest) -> ApiResponse:
    """GET /v3/user/scheduled_sends"""
    return _forward(request, "GET", api_path("user", "scheduled_sends"))


def pause_or_cancel(request: ApiRequest) -> ApiResponse:
    """POST /v3/user/scheduled_sends with {"batch_id", "status"}."""
    document = validation.json_object(request.body, allowed=_PAUSE_FIELDS, required=_PAUSE_FIELDS)
    body = {"batch_id": validation.batch_id(document["batch_id"]), "status": validation.status(document["status"])}
    return _forward(request, "POST", api_path("user", "scheduled_sends"), body)


def get_scheduled_send(request: ApiRequest) -> ApiResponse:
    """GET /v3/user/scheduled_sends/{batch_id} — SendGrid answers an array of one entry."""
    return _forward(request, "GET", api_path("user", "scheduled_sends", _path_batch_id(request)))


def update_scheduled_send(request: ApiRequest) -> ApiResponse:
    """PATCH /v3/user/scheduled_sends/{batch_id} with {"status"}."""
    batch_id = _path_batch_id(request)
    document = validation.json_object(request.body, allowed=_UPDATE_FIELDS, required=_UPDATE_FIELDS)
    body = {"status": validation.status(document["status"])}
    return _forward(request, "PATCH", api_path("user", "scheduled_sends", batch_id), body)


def resume_scheduled_send(request: ApiRequest) -> ApiResponse:
    """DELETE /v3/user/scheduled_sends/{batch_id} — removing the cancel/pause resumes a paused send."""
    return _forward(request, "DELETE", api_path("user", "scheduled_sends", _path_batch_id(request)))
