"""The scanner's entry point: EventBridge's schedule (rate in the template) invokes one run; its counters
and gauges go to CloudWatch, its summary to the log, and a run with failures raises so Lambda retries it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..app.event_detail import known_regions
from ..app.scanner import run_scan
from ..runtime.observability import logger, metrics, tracer
from . import snapstart


class ScanIncomplete(Exception):
    """Some batches or accounts failed; the run is retried (idempotently) by Lambda."""


def scanner_handler() -> Any:
    """The scanner function's Lambda handler, with its SnapStart hooks registered."""
    snapstart.register_hooks()
    return _lambda_handler


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def _lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    summary = run_scan()
    counts = summary.counts()
    for name, value in counts.items():
        metrics.add_metric(name=f"Scanner{name.title().replace('_', '')}", unit=MetricUnit.Count, value=value)
    _gauges("SlotsInUse", "account", summary.slots_in_use)
    _gauges("PausedBatches", "expires_in", summary.paused_by_expiry)
    logger.info(
        "scan finished",
        extra={
            **counts,
            "slots_in_use": summary.slots_in_use,
            "paused_by_expiry": summary.paused_by_expiry,
            "regions": known_regions(summary.slots_in_use),  # where each reconciled account's data lives
        },
    )
    if summary.errors:
        raise ScanIncomplete(f"{summary.errors} batches or accounts failed; see the log lines above")
    return counts


def _gauges(name: str, dimension: str, values: dict[str, int]) -> None:
    """One metric per dimension value (per account, per bucket), each with the service dimension too."""
    for key, value in values.items():
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name=dimension, value=key)
