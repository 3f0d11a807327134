"""Each hand-written replacement of a library against the library's documented API (bench/doors.py), in one
run: warm requests in-process and cold requests in fresh interpreters, the two versions in alternating order.

A replacement is kept only where it pays: at least 5 ms on the cold request or 5 % on the warm request (its
time less its own DynamoDB calls, as the warm figures). The figures are the documented version less ours.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from bench.cold_start import ColdWorld
from bench.common import BATCH, CALLER, OPERATIONS, event_for, handler_of
from bench.doors import DOORS, Door
from bench.fakes import AwsCalls, aws_world, canned_sendgrid
from local.container import reset_container

CANDIDATES = ("log_formatter", "dynamodb_wire", "secret_reader")
COLD_PAYS_MS = 5.0
WARM_PAYS_PERCENT = 5.0


def _warm(repetitions: int, calls: AwsCalls) -> dict[str, Any]:
    """Per candidate and operation: ours and the documented version's warm request time (less the time of its
    DynamoDB calls), alternating which goes first."""
    from local.events import LocalLambdaContext
    from scheduled_sends.adapters.batches_table import batch_store
    from scheduled_sends.domain.rules import Batch

    sendgrid = canned_sendgrid()
    os.environ["SENDGRID_API_BASE_URL"] = sendgrid.url
    results: dict[str, Any] = {}
    try:
        with aws_world("SG.bench-key"):
            reset_container()
            owned = Batch("parent", BATCH, CALLER, status="pause")
            batch_store().change("parent", BATCH, lambda _c: owned, int(time.time()))
            ours, doors = DOORS["none"](), {name: DOORS[name]() for name in CANDIDATES}
            for function in OPERATIONS:
                handler, event = handler_of(function), event_for(function)
                context = LocalLambdaContext(function_name=function)

                def timed(door: Door, h: Any = handler, e: dict = event, c: Any = context) -> float:
                    door.put_in()
                    try:
                        table_before, started = calls.seconds["dynamodb"], time.perf_counter()
                        answer = h(e, c)
                        elapsed = time.perf_counter() - started - (calls.seconds["dynamodb"] - table_before)
                    finally:
                        door.take_out()
                    assert answer["statusCode"] < 300, answer
                    return elapsed

                for name, door in doors.items():
                    for _ in range(20):  # warm both: imports, clients, caches, the documented reader's secret
                        timed(ours)
                        timed(door)
                    own: list[float] = []
                    documented: list[float] = []
                    for repetition in range(repetitions):
                        pair = ((ours, own), (door, documented))
                        for which, times in pair if repetition % 2 == 0 else pair[::-1]:
                            times.append(timed(which))
                    ours_ms, documented_ms = statistics.median(own) * 1000, statistics.median(documented) * 1000
                    paired = statistics.median(d / o for o, d in zip(own, documented, strict=True))
                    results.setdefault(name, {})[function] = {
                        "ours_ms": round(ours_ms, 3),
                        "documented_ms": round(documented_ms, 3),
                        "saving_ms": round(documented_ms - ours_ms, 3),
                        # How much slower the request is through the documented API, in % of ours.
                        "saving_percent": round((documented_ms / ours_ms - 1) * 100, 1),
                        "saving_percent_paired_median": round((paired - 1) * 100, 1),
                    }
    finally:
        sendgrid.stop()
    return results


def _cold(rounds: int) -> dict[str, Any]:
    """Per candidate and function: the cold request (import and first request, fresh interpreter) with ours and
    with the documented version; each round runs all versions back to back, in a rotating order."""
    versions = ("none", *CANDIDATES)
    runs: dict[tuple[str, str], list[float]] = {}
    with ColdWorld() as world:
        for round_number in range(rounds):
            for function in OPERATIONS:
                shift = round_number % len(versions)
                for version in versions[shift:] + versions[:shift]:
                    timings = world.first_request(function, "service", door=version)
                    runs.setdefault((version, function), []).append(timings["import_s"] + timings["first_request_s"])
    results: dict[str, Any] = {}
    for name in CANDIDATES:
        differences: list[float] = []
        for function in OPERATIONS:
            ours, documented = runs[("none", function)], runs[(name, function)]
            paired = [(d - o) * 1000 for o, d in zip(ours, documented, strict=True)]
            differences += paired
            results.setdefault(name, {})[function] = {
                "ours_ms": round(statistics.median(ours) * 1000, 1),
                "documented_ms": round(statistics.median(documented) * 1000, 1),
                "saving_ms_paired_median": round(statistics.median(paired), 1),
            }
        results[name]["all_functions_saving_ms_paired_median"] = round(statistics.median(differences), 1)
    return results


def library_doors(repetitions: int, cold_rounds: int, calls: AwsCalls, quick: bool = False) -> dict[str, Any]:
    warm, cold = _warm(repetitions, calls), _cold(cold_rounds)
    verdicts = {}
    for name in CANDIDATES:
        warm_percent = statistics.median(row["saving_percent_paired_median"] for row in warm[name].values())
        cold_ms = cold[name]["all_functions_saving_ms_paired_median"]
        verdicts[name] = {
            "warm_saving_percent_median_over_operations": round(warm_percent, 1),
            "warm_saving_percent_max": max(row["saving_percent_paired_median"] for row in warm[name].values()),
            "cold_saving_ms_median": cold_ms,
            "pays": warm_percent >= WARM_PAYS_PERCENT or cold_ms >= COLD_PAYS_MS,
        }
    return {
        "repetitions": repetitions,
        "cold_rounds": cold_rounds,
        "threshold": {"cold_ms": COLD_PAYS_MS, "warm_percent": WARM_PAYS_PERCENT},
        "verdicts": verdicts,
        "warm": warm,
        "cold": cold,
    }


def print_library_doors(results: dict[str, Any]) -> None:
    doors = results["library_doors"]
    print(
        f"\nlibrary doors: what each hand-written replacement saves over the documented API (warm: median over "
        f"operations of the paired %, n={doors['repetitions']}; cold: median paired ms, {doors['cold_rounds']} rounds "
        f"x {len(OPERATIONS)} functions); pays at >= {doors['threshold']['warm_percent']} % warm or "
        f">= {doors['threshold']['cold_ms']} ms cold"
    )
    for name, verdict in doors["verdicts"].items():
        print(
            f"  {name:16} warm {verdict['warm_saving_percent_median_over_operations']:>5.1f} % "
            f"(max {verdict['warm_saving_percent_max']:>5.1f} %), cold {verdict['cold_saving_ms_median']:>5.1f} ms: "
            f"{'pays' if verdict['pays'] else 'does not pay'}"
        )
