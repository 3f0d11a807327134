"""The monthly AWS cost of one stack at a size, term by term.

Three inputs, each in one place: what the code does per operation and per scanner run (`make bench`'s
bench-results.json when present, else cost/measured.json, which says where each figure came from), the published
per-unit prices (cost/prices.json) and what a size means in requests (cost/workload.json, the assumptions). What the
template decides (memory, schedule, reconcile periods, log retention, the metrics the dashboard draws, the alarms'
metrics) is read from template.yaml, so the model follows the template.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import template as cfn

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
OPERATIONS = (
    "create_batch_id",
    "validate_batch_id",
    "list_scheduled_sends",
    "pause_or_cancel",
    "get_scheduled_send",
    "update_scheduled_send",
    "resume_scheduled_send",
)
SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Size:
    name: str
    teams: int
    accounts: int
    changes_per_day: int


SIZES = (
    Size("small", teams=5, accounts=20, changes_per_day=500),
    Size("medium", teams=50, accounts=2_000, changes_per_day=20_000),
    Size("large", teams=200, accounts=10_000, changes_per_day=200_000),
)


@dataclass(frozen=True)
class Measured:
    """Per API operation: DynamoDB reads and writes per request and the handler's own time (without SendGrid or
    DynamoDB); per scanner run: DynamoDB calls fixed, per due row and per account reconciled. `sources` says where
    each group came from."""

    reads_per_request: dict[str, float]
    writes_per_request: dict[str, float]
    handler_ms: dict[str, float]
    scanner_reads: dict[str, float]  # {"per_run", "per_due_row", "per_reconcile", "per_account_per_run"}
    scanner_writes: dict[str, float]
    sources: dict[str, str]


@dataclass(frozen=True)
class TemplateFacts:
    memory_gb: float
    functions: int
    scan_runs_per_day: float
    scan_concurrency: int
    reconcile_active_seconds: int
    reconcile_idle_seconds: int
    log_retention_days: int
    archive_retention_days: int
    custom_metrics: int
    alarm_metrics: int
    dashboards: int


READ_CALLS = ("GetItem", "Query", "BatchGetItem", "Scan")
WRITE_CALLS = ("UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


def _split(calls: dict[str, float]) -> tuple[float, float]:
    reads = sum(v for k, v in calls.items() if k in READ_CALLS)
    writes = sum(v for k, v in calls.items() if k in WRITE_CALLS)
    return reads, writes


def load_measured(bench_results: Path | None = None, measured: Path = HERE / "measured.json") -> Measured:
    """The bench's figures where bench-results.json has them, the committed measured figures otherwise."""
    committed = json.loads(measured.read_text())
    bench: dict[str, Any] = {}
    path = bench_results if bench_results is not None else ROOT / "bench-results.json"
    if path.exists():
        bench = json.loads(path.read_text())
    sources = dict(committed["sources"])
    per_operation = committed["dynamodb_calls_per_request"]
    handler_ms = committed["handler_ms"]
    warm = bench.get("warm_overhead", {})
    if all(op in warm for op in OPERATIONS):
        per_operation = {op: warm[op]["dynamodb_calls_per_request"] for op in OPERATIONS}
        handler_ms = {op: warm[op]["handler_without_dynamodb"]["median_ms"] for op in OPERATIONS}
        sources["api"] = f"{path.name}: warm_overhead (make bench)"
    scanner = committed["scanner_dynamodb_calls"]
    per_run = bench.get("dynamodb_calls_per_scanner_run", {})
    if per_run:  # the bench's runs: a run's calls less its own, per due row
        row = max(per_run.values(), key=lambda r: r["due_rows"])
        reads, writes = _split(row["calls"])
        fixed, due = scanner["per_run"], max(row["due_rows"], 1)  # a run's own calls: cost/measured.json
        scanner = {
            **scanner,
            "per_due_row": {"reads": (reads - fixed["reads"]) / due, "writes": (writes - fixed["writes"]) / due},
        }
        sources["scanner_per_due_row"] = f"{path.name}: dynamodb_calls_per_scanner_run (make bench)"
    reads_writes = {op: _split(calls) for op, calls in per_operation.items()}
    return Measured(
        reads_per_request={op: rw[0] for op, rw in reads_writes.items()},
        writes_per_request={op: rw[1] for op, rw in reads_writes.items()},
        handler_ms=handler_ms,
        scanner_reads={k: v["reads"] for k, v in scanner.items()},
        scanner_writes={k: v["writes"] for k, v in scanner.items()},
        sources=sources,
    )


def _rate_per_day(expression: str) -> float:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", expression)
    if not match:
        raise ValueError(f"ScanRate {expression!r}: only rate(N minutes|hours) is modelled")
    every = int(match.group(1)) * (60 if match.group(2).startswith("minute") else 3600)
    return SECONDS_PER_DAY / every


def template_facts(template: dict[str, Any] | None = None) -> TemplateFacts:
    """What the template decides, with its parameters' defaults (AuthMode=IAM)."""
    template = template or cfn.load_template()
    parameters = template["Parameters"]
    resources = template["Resources"]
    functions = [
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function" and r.get("Condition") != "TokenMode"
    ]
    scanner_env = resources["ExpiryScannerFunction"]["Properties"]["Environment"]["Variables"]
    dashboard = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(dashboard.replace("${AWS::Region}", "us-east-1").replace("${AWS::StackName}", "s"))
    custom = set()
    buckets = 0
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], str) and row[0] == "ScheduledSends":
                custom.add(row[1])
            elif not isinstance(row[0], str) and "{ScheduledSends," in row[0]["expression"]:
                buckets += 7  # PausedBatches: one metric per expiry bucket (entry/scheduled.py)
    alarm_metrics = 0
    for r in resources.values():
        if r["Type"] == "AWS::CloudWatch::Alarm" and r.get("Condition") != "TokenMode":
            stats = [m for m in r["Properties"].get("Metrics", []) if "MetricStat" in m]
            alarm_metrics += len(stats) or 1
    return TemplateFacts(
        memory_gb=template["Globals"]["Function"]["MemorySize"] / 1024,
        functions=len(functions),
        scan_runs_per_day=_rate_per_day(parameters["ScanRate"]["Default"]),
        scan_concurrency=int(parameters["ScanConcurrency"]["Default"]),
        reconcile_active_seconds=int(scanner_env["RECONCILE_ACTIVE_SECONDS"]),
        reconcile_idle_seconds=int(scanner_env["RECONCILE_IDLE_SECONDS"]),
        log_retention_days=int(parameters["LogRetentionDays"]["Default"]),
        archive_retention_days=int(parameters["EventArchiveRetentionDays"]["Default"]),
        custom_metrics=len(custom) + buckets,
        alarm_metrics=alarm_metrics,
        dashboards=sum(1 for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"),
    )


def _value(workload: dict[str, Any], key: str) -> Any:
    entry = workload[key]
    return entry["value"] if isinstance(entry, dict) and "value" in entry else entry


def _table_calls(
    requests: dict[str, float], per_request: dict[str, float], uses: dict[str, float], per_use: dict[str, float]
) -> float:
    """DynamoDB reads (or writes) in the period: the requests' by operation plus the scanner's by what it does
    (`uses`: runs, due rows, reconciles, accounts listed per run)."""
    return sum(requests[op] * per_request[op] for op in OPERATIONS) + sum(
        count * per_use[use] for use, count in uses.items()
    )


def monthly_cost(
    size: Size, measured: Measured, prices: dict[str, Any], workload: dict[str, Any], facts: TemplateFacts
) -> dict[str, float]:
    """USD per month by term (each a line on the bill) for one stack at `size`."""
    p = {name: price["usd"] for name, price in prices["prices"].items()}
    w = {key: _value(workload, key) for key in workload if key != "note"}
    days = w["days_per_month"]
    seconds = days * SECONDS_PER_DAY
    changes = size.changes_per_day * days

    requests = {op: changes * w["requests_per_change"][op] for op in OPERATIONS}
    api_requests = sum(requests.values())
    request_ms = {
        op: measured.handler_ms[op]
        + w["sendgrid_calls_per_request"][op] * w["sendgrid_latency_ms"]
        + (measured.reads_per_request[op] + measured.writes_per_request[op]) * w["dynamodb_latency_ms"]
        for op in OPERATIONS
    }

    runs = facts.scan_runs_per_day * days
    active_accounts = size.accounts * w["accounts_holding_slots_share"]
    reconciles = (
        active_accounts * seconds / facts.reconcile_active_seconds
        + (size.accounts - active_accounts) * seconds / facts.reconcile_idle_seconds
    )
    due_rows = changes * w["scanner_due_rows_per_change"]
    sendgrid_per_run = (reconciles + due_rows) / runs  # one SendGrid call per account listed or row acted on
    run_ms = w["scanner_base_ms"] + math.ceil(sendgrid_per_run / facts.scan_concurrency) * w["sendgrid_latency_ms"]

    gb_seconds = facts.memory_gb * (
        sum(requests[op] * request_ms[op] for op in OPERATIONS) / 1000 + runs * run_ms / 1000
    )
    uses = {
        "per_run": runs,
        "per_due_row": due_rows,
        "per_reconcile": reconciles,
        "per_account_per_run": runs * size.accounts,
    }
    reads = _table_calls(requests, measured.reads_per_request, uses, measured.scanner_reads)
    writes = _table_calls(requests, measured.writes_per_request, uses, measured.scanner_writes)
    stored_gb = size.changes_per_day * w["rows_kept_days"] * w["row_bytes"] / 1e9
    events = changes * w["events_per_change"]
    event_gb = events * w["event_bytes"] / 1e9
    archive_months = facts.archive_retention_days / days if facts.archive_retention_days else 12
    log_bytes = w["log_bytes"]
    log_gb = (
        api_requests * log_bytes["per_api_request"]
        + runs * log_bytes["per_scanner_run"]
        + reconciles * log_bytes["per_reconcile"]
    ) / 1e9
    log_months = facts.log_retention_days / days
    # Busy functions run more containers (each reads the secret and is restored from its snapshot on its own).
    busiest = max(requests[op] / seconds * request_ms[op] / 1000 for op in OPERATIONS)
    containers = max(w["containers_per_function"], math.ceil(busiest))
    secret_reads = min(
        api_requests + runs, facts.functions * containers * w["secret_reads_per_container_hour"] * 24 * days
    )
    invocations = api_requests + runs
    sampled_per_second = w["xray_reservoir_per_second"]
    traced = min(invocations, sampled_per_second * seconds) + w["xray_rate"] * max(
        0.0, invocations - sampled_per_second * seconds
    )
    restores = facts.functions * containers * w["snapstart_restores_per_function_per_day"] * days

    return {
        "API Gateway requests": api_requests * p["api_gateway_rest_request"],
        "Lambda requests": invocations * p["lambda_request"],
        "Lambda duration": gb_seconds * p["lambda_arm_gb_second"],
        "Lambda SnapStart cache and restores": facts.functions
        * facts.memory_gb
        * seconds
        * p["lambda_snapstart_cache_gb_second"]
        + restores * facts.memory_gb * p["lambda_snapstart_restore_gb"],
        "DynamoDB writes": writes * w["write_units_per_write"] * p["dynamodb_write_request_unit"],
        "DynamoDB reads": reads * w["read_units_per_read"] * p["dynamodb_read_request_unit"],
        "DynamoDB storage and backups": stored_gb * (p["dynamodb_storage_gb_month"] + p["dynamodb_pitr_gb_month"]),
        "DynamoDB stream reads (pipe)": w["stream_shards"]
        * w["pipe_polls_per_second_per_shard"]
        * seconds
        * p["dynamodb_streams_read_request"],
        "EventBridge Pipes": changes * p["eventbridge_pipes_request"],
        "EventBridge events": events * p["eventbridge_custom_event"],
        "EventBridge archive": event_gb * p["eventbridge_archive_processed_gb"]
        + event_gb * archive_months * p["eventbridge_archive_storage_gb_month"],
        "CloudWatch custom metrics": facts.custom_metrics * p["cloudwatch_custom_metric_month"],
        "CloudWatch alarms": facts.alarm_metrics * p["cloudwatch_alarm_metric_month"],
        "CloudWatch dashboard": facts.dashboards * p["cloudwatch_dashboard_month"],
        "CloudWatch Logs ingestion": log_gb * p["cloudwatch_logs_ingestion_gb"],
        "CloudWatch Logs storage": log_gb * w["log_compression"] * log_months * p["cloudwatch_logs_storage_gb_month"],
        "Secrets Manager": p["secrets_manager_secret_month"] + secret_reads * p["secrets_manager_api_call"],
        "X-Ray traces": traced * p["xray_trace_recorded"],
    }


def estimate(bench_results: Path | None = None) -> dict[str, Any]:
    """Every size's terms, total and dominant term, with the inputs' sources."""
    measured = load_measured(bench_results)
    prices = json.loads((HERE / "prices.json").read_text())
    workload = json.loads((HERE / "workload.json").read_text())
    facts = template_facts()
    sizes: dict[str, Any] = {}
    for size in SIZES:
        terms = monthly_cost(size, measured, prices, workload, facts)
        dominant = max(terms, key=terms.__getitem__)
        total = sum(terms.values())
        sizes[size.name] = {
            "teams": size.teams,
            "accounts": size.accounts,
            "changes_per_day": size.changes_per_day,
            "terms_usd": {k: round(v, 2) for k, v in terms.items()},
            "total_usd": round(total, 2),
            "dominant_term": dominant,
            "dominant_share": round(terms[dominant] / total, 3),
        }
    return {
        "region": prices["region"],
        "sizes": sizes,
        "template": vars(facts),
        "sources": {**measured.sources, "prices": "cost/prices.json", "assumptions": "cost/workload.json"},
    }


def markdown(result: dict[str, Any]) -> str:
    """The table docs/operations/cost.md shows (the command's output, word for word)."""
    sizes = result["sizes"]
    names = list(sizes)
    header = [
        f"{name}: {s['teams']} teams, {s['accounts']:,} accounts, {s['changes_per_day']:,} changes/day"
        for name, s in sizes.items()
    ]
    lines = [
        f"| USD per month ({result['region']}) | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for term in sizes[names[0]]["terms_usd"]:
        lines.append(f"| {term} | " + " | ".join(f"{sizes[n]['terms_usd'][term]:,.2f}" for n in names) + " |")
    lines.append("| **Total** | " + " | ".join(f"**{sizes[n]['total_usd']:,.2f}**" for n in names) + " |")
    lines.append(
        "| Largest term | "
        + " | ".join(f"{sizes[n]['dominant_term']} ({sizes[n]['dominant_share']:.0%})" for n in names)
        + " |"
    )
    return "\n".join(lines) + "\n"
