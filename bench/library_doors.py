"""Each hand-written replacement of a library against the library's documented API (bench/doors.py), in one
run: warm requests in-process and cold requests in fresh interpreters, the two versions in alternating order.

A replacement is kept only where it pays: at least 5 ms on the cold request or 5 % on the warm request (the
median over the operations). The figures are the documented version less ours, in CPU time of the code that runs
the service: the cold request's process (AWS and SendGrid answer from this one), the warm request's thread less
its CPU inside the DynamoDB calls (moto's work). On a shared machine, wall clock differences of a few ms drown in
other processes' load (cold requests' wall times moved by +-100 ms between back-to-back runs), while CPU time
counts the work each version does. Wall figures are given beside them.
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

CANDIDATES = ("log_formatter", "dynamodb_wire")
COLD_PAYS_MS = 5.0
WARM_PAYS_PERCENT = 5.0


def _warm(repetitions: int, calls: AwsCalls, candidates: tuple[str, ...]) -> dict[str, Any]:
    """Per candidate and operation: ours and the documented version's warm request, alternating which goes
    first: the wall time less the time of its DynamoDB calls, and the CPU time of the thread that runs it less
    the CPU time inside its DynamoDB calls (moto, in-process, runs on the same thread)."""
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
            ours, doors = DOORS["none"](), {name: DOORS[name]() for name in candidates}
            for function in OPERATIONS:
                handler, event = handler_of(function), event_for(function)
                context = LocalLambdaContext(function_name=function)

                def timed(door: Door, h: Any = handler, e: dict = event, c: Any = context) -> tuple[float, float]:
                    door.put_in()
                    try:
                        table_before, started = calls.seconds["dynamodb"], time.perf_counter()
                        table_cpu_before, started_cpu = calls.cpu_seconds["dynamodb"], time.thread_time()
                        answer = h(e, c)
                        cpu = time.thread_time() - started_cpu - (calls.cpu_seconds["dynamodb"] - table_cpu_before)
                        elapsed = time.perf_counter() - started - (calls.seconds["dynamodb"] - table_before)
                    finally:
                        door.take_out()
                    assert answer["statusCode"] < 300, answer
                    return elapsed, cpu

                for name, door in doors.items():
                    for _ in range(20):  # warm both: imports, clients, caches, the documented reader's secret
                        timed(ours)
                        timed(door)
                    own: list[tuple[float, float]] = []
                    documented: list[tuple[float, float]] = []
                    for repetition in range(repetitions):
                        pair = ((ours, own), (door, documented))
                        for which, times in pair if repetition % 2 == 0 else pair[::-1]:
                            times.append(timed(which))
                    ours_ms = statistics.median(wall for wall, _ in own) * 1000
                    documented_ms = statistics.median(wall for wall, _ in documented) * 1000
                    ours_cpu_ms = statistics.median(cpu for _, cpu in own) * 1000
                    cpu_saving_us = statistics.median(
                        (d - o) * 1e6 for (_, o), (_, d) in zip(own, documented, strict=True)
                    )
                    results.setdefault(name, {})[function] = {
                        "ours_ms": round(ours_ms, 3),  # wall, less the table calls: the warm figure
                        "documented_ms": round(documented_ms, 3),
                        "ours_cpu_ms": round(ours_cpu_ms, 3),
                        "documented_cpu_ms": round(statistics.median(cpu for _, cpu in documented) * 1000, 3),
                        "cpu_saving_us_paired_median": round(cpu_saving_us, 1),
                        # The CPU the replacement saves, in % of our request's own CPU (same clock, same run: the
                        # wall figure under other processes' load is several times the work).
                        "saving_percent": round(cpu_saving_us / 1000 / ours_cpu_ms * 100, 1),
                        "saving_percent_of_wall": round(cpu_saving_us / 1000 / ours_ms * 100, 1),
                    }
    finally:
        sendgrid.stop()
    return results


def _cold(rounds: int, candidates: tuple[str, ...]) -> dict[str, Any]:
    """Per candidate and function: the cold request (import and first request, fresh interpreter) with ours and
    with the documented version; each round runs all versions back to back, in a rotating order."""
    versions = ("none", *candidates)
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    with ColdWorld() as world:
        for round_number in range(rounds):
            for function in OPERATIONS:
                shift = round_number % len(versions)
                for version in versions[shift:] + versions[:shift]:
                    timings = world.first_request(function, "service", door=version)
                    runs.setdefault((version, function), []).append(
                        {
                            "wall": timings["import_s"] + timings["first_request_s"],
                            "cpu": timings["import_cpu_s"] + timings["first_request_cpu_s"],
                        }
                    )
    results: dict[str, Any] = {}
    for name in candidates:
        differences: dict[str, list[float]] = {"wall": [], "cpu": []}
        for function in OPERATIONS:
            ours, documented = runs[("none", function)], runs[(name, function)]
            row: dict[str, float] = {}
            for clock in ("wall", "cpu"):
                paired = [(d[clock] - o[clock]) * 1000 for o, d in zip(ours, documented, strict=True)]
                differences[clock] += paired
                suffix = "" if clock == "wall" else "_cpu"
                row[f"ours{suffix}_ms"] = round(statistics.median(o[clock] for o in ours) * 1000, 1)
                row[f"documented{suffix}_ms"] = round(statistics.median(d[clock] for d in documented) * 1000, 1)
                row[f"saving{suffix}_ms_paired_median"] = round(statistics.median(paired), 1)
            results.setdefault(name, {})[function] = row
        results[name]["all_functions"] = {
            "saving_ms_paired_median": round(statistics.median(differences["wall"]), 1),
            "saving_cpu_ms_paired_median": round(statistics.median(differences["cpu"]), 1),
        }
    return results


def library_doors(
    repetitions: int, cold_rounds: int, calls: AwsCalls, candidates: tuple[str, ...] = CANDIDATES
) -> dict[str, Any]:
    """`cold_rounds` 0: warm only."""
    warm = _warm(repetitions, calls, candidates)
    cold = _cold(cold_rounds, candidates) if cold_rounds else {}
    verdicts = {}
    for name in candidates:
        warm_percent = statistics.median(row["saving_percent"] for row in warm[name].values())
        cold_ms = cold[name]["all_functions"]["saving_cpu_ms_paired_median"] if cold else None
        verdicts[name] = {
            "warm_saving_percent_median_over_operations": round(warm_percent, 1),
            "warm_saving_percent_max_over_operations": max(row["saving_percent"] for row in warm[name].values()),
            "cold_saving_cpu_ms_median": cold_ms,
            "cold_saving_wall_ms_median": cold[name]["all_functions"]["saving_ms_paired_median"] if cold else None,
            "pays": warm_percent >= WARM_PAYS_PERCENT or (cold_ms or 0) >= COLD_PAYS_MS,
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
        f"\nlibrary doors: the CPU each hand-written replacement saves over the documented API (warm: paired "
        f"median, in % of our request's own CPU, median over operations, n={doors['repetitions']}; cold: paired "
        f"median of {doors['cold_rounds']} rounds x {len(OPERATIONS)} functions); pays at >= "
        f"{doors['threshold']['warm_percent']} % warm or >= {doors['threshold']['cold_ms']} ms cold"
    )
    for name, verdict in doors["verdicts"].items():
        cold = verdict["cold_saving_cpu_ms_median"]
        print(
            f"  {name:16} warm {verdict['warm_saving_percent_median_over_operations']:>5.1f} % "
            f"(max {verdict['warm_saving_percent_max_over_operations']:>5.1f} %), "
            + (
                f"cold CPU {cold:>5.1f} ms (wall {verdict['cold_saving_wall_ms_median']:>6.1f} ms)"
                if cold is not None
                else "cold not run"
            )
            + f": {'pays' if verdict['pays'] else 'does not pay'}"
        )
