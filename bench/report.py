"""The table `make bench` prints, and the targets its figures are judged by."""

from __future__ import annotations

from typing import Any


def print_warm(results: dict[str, Any]) -> None:
    repetitions = results["config"]["repetitions"]
    print(
        f"\nwarm, without table calls (handler vs hand-written reference vs bare requests.Session, same loopback "
        f"SendGrid, n={repetitions})"
    )
    print(
        f"{'operation':24} {'handler med/p95 ms':>20} {'reference ms':>12} {'bare ms':>8} {'vs ref':>6} "
        f"{'vs bare':>7} {'by order':>10} {'DynamoDB calls/req':>20}"
    )
    for name, row in results["warm_overhead"].items():
        handler, order = row["handler_without_dynamodb"], row["ratio_vs_reference_without_dynamodb_by_order"]
        print(
            f"{name:24} {handler['median_ms']:>9.2f} /{handler['p95_ms']:>8.2f} "
            f"{row['reference_without_dynamodb']['median_ms']:>12.2f} {row['bare_requests']['median_ms']:>8.2f} "
            f"{row['ratio_vs_reference_without_dynamodb']:>6.2f} {row['ratio_median_without_dynamodb']:>7.2f} "
            f"{'{:.2f} {:.2f}'.format(*order.values()):>10} "
            f"{row['dynamodb_calls_total_per_request']:>8} {row['dynamodb_calls_per_request']}"
        )
    print("by order: ours / reference when both follow the bare call, and when each follows the other")


def print_secret_reads(results: dict[str, Any]) -> None:
    secret = results["secret_reads"]
    print(f"\nsecret reads: {secret['secret_reads']} per {secret['invocations']} warm invocations in one container")


def print_cold(results: dict[str, Any]) -> None:
    cold = results["cold_request"]
    print(
        f"\ncold request: handler import + first request in a fresh interpreter with Lambda's environment "
        f"(tracing on, sampled; SnapStart off; layer: {cold['layer']}), vs the reference handler (bench/reference); "
        f"medians of {cold['rounds']} interleaved rounds, ms, ours vs reference"
    )
    print(
        f"  {'function':22} {'import':>11} {'1st request':>12} {'total':>11} {'ratio':>6} {'CPU total':>11} "
        f"{'ratio':>6} {'paired':>6}  AWS calls (ms in them)"
    )
    for name, row in cold["functions"].items():
        print(
            f"  {name:22} {row['service_import_ms']:>4.0f} /{row['reference_import_ms']:>4.0f} "
            f"{row['service_first_request_ms']:>5.0f} /{row['reference_first_request_ms']:>4.0f} "
            f"{row['service_total_ms']:>4.0f} /{row['reference_total_ms']:>4.0f} {row['ratio_total']:>6.2f} "
            f"{row['service_total_cpu_ms']:>4.0f} /{row['reference_total_cpu_ms']:>4.0f} "
            f"{row['ratio_total_cpu']:>6.2f} {row['ratio_total_paired_median']:>6.2f}  "
            f"{row['service_aws_calls']} vs 1 ({row['service_aws_calls_ms']:.0f})"
        )
    print(
        "  heaviest imports of pause_or_cancel's cold request (self time by package): "
        + ", ".join(f"{i['package']} {i['self_ms']} ms" for i in cold["heaviest_imports_pause_or_cancel"])
    )


def print_scanner(results: dict[str, Any]) -> None:
    print("\nscanner scaling (same due rows, growing table)")
    for size, row in results["scanner_scaling"].items():
        print(
            f"  {int(size):>7} tracked: due {row['due']}, items read {row['items_read']} "
            f"({row['items_read_per_due']}x due), run {row['run_s']} s, of which moto's due query "
            f"{row['due_query_s_in_moto']} s; without it {row['run_without_query_s']} s"
        )


def print_dynamodb_calls(results: dict[str, Any]) -> None:
    if "dynamodb_calls_per_operation" in results:
        print("\nDynamoDB calls per operation (warm request): ", end="")
        print(", ".join(f"{op} {row['total']:g}" for op, row in results["dynamodb_calls_per_operation"].items()))
    if "dynamodb_calls_per_scanner_run" in results:
        for size, row in results["dynamodb_calls_per_scanner_run"].items():
            print(
                f"DynamoDB calls per scanner run ({size} tracked, {row['due_rows']} due): {row['total']} "
                f"({row['per_due_row']} per due row) {row['calls']}"
            )


def print_authorizer(results: dict[str, Any]) -> None:
    authorizer = results["authorizer_overhead"]
    print(
        f"\nteam-token authorizer: median {authorizer['authorizer']['median_ms']} ms vs bare GetItem "
        f"{authorizer['bare_get_item']['median_ms']} ms: ratio {authorizer['ratio_median']}"
    )


def print_local_server(results: dict[str, Any]) -> None:
    for local in (results["local_server"], results["local_server_token_mode"]):
        print(
            f"local server ({local['auth_mode']}) GET /v3/user/scheduled_sends: {local['rps']} req/s, "
            f"median {local['median_ms']} ms, p95 {local['p95_ms']} ms ({local['threads']} threads, "
            f"{local['requests']} requests)"
        )


def dynamodb_calls_per_operation(warm: dict[str, Any]) -> dict[str, Any]:
    """Each API operation's DynamoDB calls per warm request (the same request each time: the caller owns a
    paused batch; a pause meets it as created, with its send_at and no status), by call and in total; what issue
    25's "two round trips per change" is judged by."""
    return {
        operation: {"total": row["dynamodb_calls_total_per_request"], "calls": row["dynamodb_calls_per_request"]}
        for operation, row in warm.items()
    }


def dynamodb_calls_per_scanner_run(scaling: dict[str, Any]) -> dict[str, Any]:
    """The expiry scanner's DynamoDB calls in one run, by table size (same due rows each time), in total and per
    due row."""
    return {
        size: {
            "total": row["dynamodb_calls_total"],
            "per_due_row": round(row["dynamodb_calls_total"] / max(row["due"], 1), 2),
            "due_rows": row["due"],
            "calls": row["dynamodb_calls"],
        }
        for size, row in scaling.items()
    }


def targets(results: dict[str, Any]) -> dict[str, bool]:
    """Each target the sections run can judge."""
    judged: dict[str, bool] = {}
    if "secret_reads" in results:
        judged["secret_reads_one_per_cache_period"] = results["secret_reads"]["secret_reads"] == 1
    if "cold_request" in results:
        cold = results["cold_request"]["functions"].values()
        judged["cold_request_ratio_at_most_1_3"] = all(f["ratio_total"] <= 1.3 for f in cold)
    if "warm_overhead" in results:
        warm = results["warm_overhead"].values()
        judged["warm_ratio_vs_reference_without_table_at_most_1_2"] = all(
            r["ratio_vs_reference_without_dynamodb"] <= 1.2 for r in warm
        )
        judged["table_calls_at_most_one_per_request"] = all(r["dynamodb_calls_total_per_request"] <= 1 for r in warm)
    if "scanner_accounts" in results:
        rows = results["scanner_accounts"]["rows"]
        judged["scanner_runs_inside_their_timeout"] = all(r["max_run_s"] < r["timeout_s"] for r in rows)
        judged["scanner_active_accounts_reconciled_within_15_min"] = all(
            r["all_reconciled_after_s"] is not None and r["active_max_gap_s"] <= 900
            for r in rows
            if r["rate_limit_per_minute"] is None
        )
    if "scanner_scaling" in results:
        scans = results["scanner_scaling"].values()
        judged["scanner_items_read_at_most_1_1_x_due"] = all(s["items_read"] <= 1.1 * s["due"] for s in scans)
    return judged
