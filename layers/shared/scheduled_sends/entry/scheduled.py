"""The scanner's entry point: EventBridge's schedule (rate in the template) invokes one run; its counters
and gauges go to CloudWatch, its summary to the log, and a run with failures raises so Lambda retries it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..app.event_detail import known_regions
from ..app.scanner import run_scan
from ..runtime.clock import deadline_in
from ..runtime.observability import flushing_metrics, logger, metrics, tracer
from ..runtime.settings import settings
from . import snapstart
from .bootstrap import services


class ScanIncomplete(Exception):
    """Some batches or accounts failed; the run is retried (idempotently) by Lambda."""


def scanner_handler() -> Any:
    """The scanner function's Lambda handler, with its SnapStart hooks registered."""
    snapstart.register_hooks()
    return _lambda_handler


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@flushing_metrics
def _lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    # The run stops taking work this long before Lambda's timeout, so a long run ends well, never in the DLQ.
    remaining = context.get_remaining_time_in_millis() / 1000
    with deadline_in(remaining - min(settings().scan_stop_before_seconds, remaining / 2)):
        summary = run_scan(services())
    counts = summary.counts()
    for name, value in counts.items():
        metrics.add_metric(name=f"Scanner{name.title().replace('_', '')}", unit=MetricUnit.Count, value=value)
    gauges = summary.slot_gauges
    for name, value in (
        ("AccountsWatched", gauges.accounts),
        ("AccountsAtSlotLimit", gauges.accounts_at_limit),
        ("AccountsNearSlotLimit", gauges.accounts_near_limit),
        ("MaxSlotsInUse", gauges.max_slots_in_use),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    # Stack-level: PausedExpiringWithin1h/6h and PausedUnprotectedExpiringWithin1h/6h (the latter's 1 h alarms).
    for name, value in summary.at_risk.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    _gauges("PausedBatches", "expires_in", summary.paused_by_expiry)  # seven buckets, whatever the accounts
    logger.info(
        "scan finished",
        extra={
            "version": settings().service_version,  # which release ran (the stack's Version output)
            **counts,
            "slot_gauges": vars(gauges),
            "paused_by_expiry": summary.paused_by_expiry,
            "at_risk": summary.at_risk,
            "regions": known_regions(
                services().sendgrid, summary.slots_in_use
            ),  # where each reconciled account's data lives
        },
    )
    if summary.errors:
        raise ScanIncomplete(f"{summary.errors} batches or accounts failed; see the log lines above")
    return counts


def _gauges(name: str, dimension: str, values: dict[str, int]) -> None:
    """One metric per dimension value (a fixed set: the expiry buckets), each with the service dimension too."""
    for key, value in values.items():
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name=dimension, value=key)
