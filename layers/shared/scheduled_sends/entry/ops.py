"""The composition of the admin routes (`/ops/...`) and the dashboard's at-risk widget: the container's store,
time and region knowledge handed to the application functions."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..app import ops_api
from ..app.at_risk_page import render_at_risk_html
from ..app.contract import ApiRequest, ApiResponse
from ..app.ops_queries import at_risk
from ..app.services import Services
from ..runtime.observability import logger
from . import snapstart
from .bootstrap import services

WIDGET_DOCS = """## Paused batches at risk

The scheduled sends paused across every account that expire within the next 6 hours (or have passed their
earliest possible expiry), soonest first: account, region, owner, time left, expiry action and the
`scheduled-sends resume` command for each. Read-only: answered from the batches table.
Runbook: docs/operations/alarms.md#pausedbatchexpiringunprotectedalarm
"""


def _context(services: Services) -> ops_api.OpsContext:
    """What the admin routes need, from the container's services: the store, the time, the admins and what is
    known of an account's region without calling SendGrid."""
    return ops_api.OpsContext(
        services.store, services.clock.now(), services.config.admin_principals, services.sendgrid.known_region
    )


def ops_list_batches(request: ApiRequest, services: Services) -> ApiResponse:
    return ops_api.list_batches(request, _context(services))


def ops_get_batch(request: ApiRequest, services: Services) -> ApiResponse:
    return ops_api.get_batch(request, _context(services))


def at_risk_widget_handler() -> Any:
    """The CloudWatch custom widget's Lambda handler (the widget contract: `describe` -> its documentation,
    otherwise HTML)."""
    snapstart.register_hooks()
    return _widget


@logger.inject_lambda_context
def _widget(event: dict[str, Any], context: LambdaContext) -> str:
    if event.get("describe"):
        return WIDGET_DOCS
    built = services()
    now = built.clock.now()
    batches = at_risk(built.store, now, built.sendgrid.known_region)
    logger.info("at-risk widget rendered", extra={"batches": len(batches)})
    return render_at_risk_html(batches, now, built.config.stack_name)
