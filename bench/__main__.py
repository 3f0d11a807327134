"""`make bench`: what the service adds to a SendGrid round trip, as ratios within one run.

Writes bench-results.json (or --out) and prints a table. --quick runs tiny sizes (used by a smoke test).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.authorizer import authorizer_overhead
from bench.cold_start import cold_requests
from bench.common import ENVIRONMENT, ROOT, interleaved
from bench.fakes import AwsCalls
from bench.local_server import local_server
from bench.scanner_accounts import print_scanner_accounts, scanner_accounts
from bench.scanner_scaling import scanner_scaling
from bench.secret_reads import secret_reads
from bench.warm_overhead import warm_overhead

__all__ = ["interleaved", "main"]  # `interleaved` is tested through this module

SECTIONS = (
    "warm_overhead",
    "secret_reads",
    "cold_request",
    "scanner_scaling",
    "scanner_accounts",
    "authorizer_overhead",
    "local_server",
)


def logs_to(stream: Any) -> None:
    """The layer's logger writes to `stream`: it was made (with the stdout of its time) when this script
    imported the layer, before stdout was redirected, so its log lines went to the terminal or pipe that runs
    the bench, a slower and more variable write than Lambda's log pipe. Metrics are printed at each flush and
    follow the redirection by themselves."""
    import logging

    from scheduled_sends.runtime.observability import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "bench-results.json"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script itself")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--layer", type=Path, help="cold request: a built layer directory (/opt/python) instead of the model of one"
    )
    parser.add_argument("--cold-rounds", type=int, help="cold request: rounds (default 15, --quick 1)")
    parser.add_argument("--repetitions", type=int, help="warm requests per operation (default 300, --quick 20)")
    parser.add_argument(
        "--layer-source-only", action="store_true", help="cold request: the package without bytecode (SAM's own build)"
    )
    options = parser.parse_args()
    quick = options.quick
    only = set(options.only.split(","))
    if only - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(only - set(SECTIONS)))}")
    config: dict[str, Any] = {
        "repetitions": options.repetitions or (20 if quick else 300),
        "secret_invocations": 50 if quick else 1000,
        "cold_rounds": options.cold_rounds or (1 if quick else 15),
        "scanner_sizes": [100, 1000] if quick else [1_000, 100_000],
        "scanner_due": 10 if quick else 100,
        "local_requests": 40 if quick else 1000,
    }
    os.environ.update(ENVIRONMENT)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        },
        "config": config,
    }
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # the handlers' JSON logs and metrics
        logs_to(quiet)
        calls = AwsCalls()
        if "warm_overhead" in only:
            results["warm_overhead"] = warm_overhead(config["repetitions"], calls)
            results["dynamodb_calls_per_operation"] = report.dynamodb_calls_per_operation(results["warm_overhead"])
        if "secret_reads" in only:
            results["secret_reads"] = secret_reads(config["secret_invocations"], calls)
        if "cold_request" in only:
            results["cold_request"] = cold_requests(
                config["cold_rounds"], options.layer, bytecode=not options.layer_source_only
            )
        if "scanner_scaling" in only:
            results["scanner_scaling"] = scanner_scaling(config["scanner_sizes"], config["scanner_due"], calls)
            results["dynamodb_calls_per_scanner_run"] = report.dynamodb_calls_per_scanner_run(
                results["scanner_scaling"]
            )
        if "scanner_accounts" in only:
            results["scanner_accounts"] = scanner_accounts(quick)
        if "authorizer_overhead" in only:
            results["authorizer_overhead"] = authorizer_overhead(config["repetitions"])
        if "local_server" in only:
            results["local_server"] = local_server(config["local_requests"], threads=4)
            results["local_server_token_mode"] = local_server(config["local_requests"], threads=4, auth_mode="TOKEN")
            results["local_server_token_vs_iam_median"] = round(
                results["local_server_token_mode"]["median_ms"] / results["local_server"]["median_ms"], 2
            )
    results["machine"]["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    results["targets"] = report.targets(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    Path(options.out).write_text(json.dumps(results, indent=2) + "\n")
    printers = {
        "warm_overhead": report.print_warm,
        "secret_reads": report.print_secret_reads,
        "cold_request": report.print_cold,
        "scanner_scaling": report.print_scanner,
        "scanner_accounts": print_scanner_accounts,
        "authorizer_overhead": report.print_authorizer,
        "local_server": report.print_local_server,
    }
    for section in SECTIONS:
        if section in results:
            printers[section](results)
    report.print_dynamodb_calls(results)
    print("\ntargets: " + ", ".join(f"{k}={'met' if v else 'NOT met'}" for k, v in results["targets"].items()))
    print(f"\nwritten to {options.out} in {results['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
