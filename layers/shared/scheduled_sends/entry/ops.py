"""The composition of the admin routes (`/ops/...`) and the dashboard's at-risk widget: the container's store,
time and region knowledge handed to the application functions."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.batches_table import batch_store
from ..adapters.sendgrid.wiring import sendgrid_client
from ..app import ops_api
from ..app.at_risk_page import render_at_risk_html
from ..app.contract import ApiRequest, ApiResponse
from ..app.ops_queries import at_risk
from ..runtime import clock
from ..runtime.observability import logger
from ..runtime.settings import settings
from . import snapstart

WIDGET_DOCS = """## Paused batches at risk

The scheduled sends paused across every account that expire within the next 6 hours (or have passed their
earliest possible expiry), soonest first: account, region, owner, time left, expiry action and the
`scheduled-sends resume` command for each. Read-only: answered from the batches table.
Runbook: docs/operations/alarms.md#paused-batch-expiring-without-an-expiry-action
"""


def _region_of(on_behalf_of: str | None) -> str | None:
    """What is known of an account's region without calling SendGrid."""
    return sendgrid_client().known_region(on_behalf_of)


def _context() -> ops_api.OpsContext:
    return ops_api.OpsContext(batch_store(), clock.now(), settings().admin_principals, _region_of)


def ops_list_batches(request: ApiRequest) -> ApiResponse:
    return ops_api.list_batches(request, _context())


def ops_get_batch(request: ApiRequest) -> ApiResponse:
    return ops_api.get_batch(request, _context())


def at_risk_widget_handler() -> Any:
    """The CloudWatch custom widget's Lambda handler (the widget contract: `describe` -> its documentation,
    otherwise HTML)."""
    snapstart.register_hooks()
    return _widget


@logger.inject_lambda_context
def _widget(event: dict[str, Any], context: LambdaContext) -> str:
    if event.get("describe"):
        return WIDGET_DOCS
    now = clock.now()
    batches = at_risk(batch_store(), now, _region_of)
    logger.info("at-risk widget rendered", extra={"batches": len(batches)})
    return render_at_risk_html(batches, now, settings().stack_name)
