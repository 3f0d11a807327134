"""The admin routes across accounts (`/ops/...`): who may call them and what they answer. Admins only; answered
from the table alone through `ops_queries`; every time also in ISO-8601 UTC."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from ..adapters.batches_table import BatchStore
from ..domain import ops_view, ownership, validation
from ..domain.errors import BadRequest, Forbidden, NotFound
from .contract import ApiRequest, ApiResponse
from .ops_queries import BatchQuery, RegionOf, find_batch
from .ops_queries import list_batches as list_page

_LIST_PARAMETERS = frozenset({"status", "account", "owner", "expires_within", "limit", "next_token"})
_GET_PARAMETERS = frozenset({"account"})
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class OpsContext:
    """What the admin routes need, handed in by the entry point."""

    store: BatchStore
    now: int
    admins: tuple[str, ...]
    region_of: RegionOf


def _admin_only(request: ApiRequest, admins: Iterable[str]) -> None:
    if not ownership.is_admin(ownership.owner_of(request.principal), admins):
        raise Forbidden("the /ops routes are for the stack's admins (AdminPrincipals) only")


def _known_parameters(request: ApiRequest, allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]}; known: {', '.join(sorted(allowed))}", field=unknown[0])


def parse_query(request: ApiRequest) -> BatchQuery:
    _known_parameters(request, _LIST_PARAMETERS)
    query = request.query
    owner = query.get("owner")
    if owner is not None and not owner.strip():
        raise BadRequest("owner must name a principal", field="owner")
    return BatchQuery(
        statuses=ops_view.parse_statuses(query.get("status")),
        account=ops_view.account_of(query.get("account")),
        owner=owner,
        expires_within=ops_view.parse_duration(query.get("expires_within"), "expires_within"),
        limit=ops_view.parse_limit(query.get("limit")),
    )


def list_batches(request: ApiRequest, context: OpsContext) -> ApiResponse:
    """GET /ops/batches: batches across accounts, soonest expiry first, one page at a time."""
    _admin_only(request, context.admins)
    query = parse_query(request)
    page = list_page(context.store, query, request.query.get("next_token"), context.now, context.region_of)
    body = {
        "batches": page.batches,
        "next_token": page.next_token,
        "now": context.now,
        "now_iso": ops_view.iso(context.now),
    }
    return ApiResponse(200, json.dumps(body), dict(JSON))


def get_batch(request: ApiRequest, context: OpsContext) -> ApiResponse:
    """GET /ops/batches/{batch_id}?account=...: one batch, its time left and its recent changes."""
    _admin_only(request, context.admins)
    _known_parameters(request, _GET_PARAMETERS)
    batch_id = validation.batch_id(request.path_parameters.get("batch_id"))
    account = ops_view.account_of(request.query.get("account")) or ownership.PARENT_ACCOUNT
    found = find_batch(context.store, account, batch_id, context.now, context.region_of)
    if found is None:
        name = ops_view.account_name(account)
        raise NotFound(
            f"batch id {batch_id} is not in the table for account {name}; "
            f"GET /v3/ops/batches lists every account's batches (filter with account=, owner=, status=)",
            field="batch_id",
        )
    return ApiResponse(200, json.dumps(found), dict(JSON))
