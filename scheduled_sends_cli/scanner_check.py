"""Whether the stack's expiry scanner ran recently: in AWS its function's Invocations and Errors metrics
(AWS/Lambda), locally the local server's last scan (`GET /_local/clock`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import urllib3

from .outcome import CommandFailed
from .target import Target
from .timefmt import iso_utc, span

SCANNER_LOGICAL_ID = "ExpiryScannerFunction"


def _ago(seconds: float) -> str:
    return f"{span(int(seconds))} ago" if seconds >= 1 else "just now"


def check_aws(target: Target, within_seconds: int, now: datetime | None = None) -> str:
    """Raises CommandFailed unless the scanner function was invoked, not only failing, within the window."""
    function = target.client("cloudformation").describe_stack_resource(
        StackName=target.name, LogicalResourceId=SCANNER_LOGICAL_ID
    )["StackResourceDetail"]["PhysicalResourceId"]
    end = now or datetime.now(UTC)
    start = end - timedelta(seconds=within_seconds)
    cloudwatch = target.client("cloudwatch")

    def total(metric: str) -> tuple[float, datetime | None]:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=[{"Name": "FunctionName", "Value": function}],
            StartTime=start,
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        latest = max((p["Timestamp"] for p in points if p["Sum"] > 0), default=None)
        return sum(p["Sum"] for p in points), latest

    invocations, latest = total("Invocations")
    errors, _ = total("Errors")
    window = span(within_seconds)
    if not invocations:
        raise CommandFailed(f"the scanner ({function}) was not invoked in the last {window} (AWS/Lambda Invocations)")
    if errors >= invocations:
        raise CommandFailed(f"the scanner ({function}) ran {invocations:.0f} time(s) in the last {window}, all failed")
    assert latest is not None
    return (
        f"{function}: {invocations:.0f} run(s), {errors:.0f} failed, in the last {window}; "
        f"latest in the minute from {latest.astimezone(UTC).strftime('%H:%M')} UTC"
    )


def check_local(target: Target, within_seconds: int, pool: urllib3.PoolManager | None = None) -> str:
    """The local server's last scan, on the local stack's clock."""
    pool = pool or urllib3.PoolManager(retries=False, timeout=10)
    answer = pool.request("GET", f"{target.local_url}/_local/clock")
    if answer.status != 200:
        raise CommandFailed(f"/_local/clock answered {answer.status}")
    clock = json.loads(answer.data)
    last = clock.get("last_scan")
    if not last:
        raise CommandFailed("the local scanner has not run since the server started (make run scans every 30 s)")
    age = clock["now"] - last["at"]
    if age > within_seconds:
        raise CommandFailed(
            f"the local scanner last ran {_ago(age)} ({last['time']}), not within {span(within_seconds)}"
        )
    outcome = f"failed: {last['error']}" if last.get("error") else "ok"
    if last.get("error"):
        raise CommandFailed(f"the local scanner's last run ({iso_utc(last['at'])}) {outcome}")
    return f"last run {_ago(age)} ({last['time']}), {outcome}"
