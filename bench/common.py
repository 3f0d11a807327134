"""What every scenario shares: the paths, the calling team and its batch, the operations and their events,
the handlers loaded from functions/, and the timing helpers (summary, interleaved rounds).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "shared"
REFERENCE = ROOT / "bench" / "reference"  # the hand-written handler every figure is compared with
CALLER = "arn:aws:iam::111122223333:user/bench-team"
BATCH = "BenchBatch0000000000000000000001"
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "scheduled-sends",
    "POWERTOOLS_METRICS_NAMESPACE": "ScheduledSends",
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here; the SDK is still imported and initialised
    "BATCHES_TABLE_NAME": "batches",
    "EVENT_BUS_NAME": "bench-events",
}


OPERATIONS = {  # function folder -> (method, resource, caller body)
    "create_batch_id": ("POST", "/mail/batch", None),
    "validate_batch_id": ("GET", "/mail/batch/{batch_id}", None),
    "list_scheduled_sends": ("GET", "/user/scheduled_sends", None),
    "pause_or_cancel": ("POST", "/user/scheduled_sends", {"batch_id": BATCH, "status": "pause"}),
    "get_scheduled_send": ("GET", "/user/scheduled_sends/{batch_id}", None),
    "update_scheduled_send": ("PATCH", "/user/scheduled_sends/{batch_id}", {"status": "pause"}),
    "resume_scheduled_send": ("DELETE", "/user/scheduled_sends/{batch_id}", None),
}


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 3),
        "n": len(ordered),
    }


def handler_of(function: str) -> Callable[[dict, Any], dict]:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{function}", ROOT / "functions" / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def event_for(function: str) -> dict:
    from local.events import proxy_event

    method, resource, body = OPERATIONS[function]
    return proxy_event(
        method=method,
        resource=resource,
        path=resource.replace("{batch_id}", BATCH),
        path_parameters={"batch_id": BATCH} if "{batch_id}" in resource else None,
        headers=[("Content-Type", "application/json")],
        body=json.dumps(body).encode() if body else None,
        caller_arn=CALLER,
    )


def interleaved(
    repetitions: int, subject: Callable[[], Any], *baselines: Callable[[], Any]
) -> tuple[Any, list[float], list[float]]:
    """Time `subject` and each baseline in turn, so machine noise hits them alike: the subject's last answer,
    its seconds and the first baseline's (a later baseline keeps its own figures, e.g. without table calls).

    The baselines run in their order in even repetitions and in reverse in odd ones, so that no call always
    follows the same one: a call runs faster right after a call of the same code (its code and data are still in
    the CPU's caches), and with a fixed order the reference handler always ran right after the bare `requests`
    call, its own code path, while the subject always ran after the reference. With warm_overhead's two baselines
    (the bare call, then the reference), the subject and the reference both follow the bare call in even
    repetitions, and each follows the other in odd ones (`by_order` gives the ratio of each half)."""
    answer, subject_times = None, []
    baseline_times: list[list[float]] = [[] for _ in baselines]
    pairs = list(zip(baselines, baseline_times, strict=True))
    for repetition in range(repetitions):
        started = time.perf_counter()
        answer = subject()
        subject_times.append(time.perf_counter() - started)
        for baseline, times in pairs if repetition % 2 == 0 else reversed(pairs):
            started = time.perf_counter()
            baseline()
            times.append(time.perf_counter() - started)
    return answer, subject_times, baseline_times[0]


def by_order(subject_times: list[float], reference_times: list[float]) -> dict[str, float]:
    """The subject/reference median ratio of `interleaved`'s even and odd repetitions apart, where the reference
    is the last baseline: how much the order of the calls moves the ratio (the overall ratio takes both)."""

    def ratio(start: int) -> float:
        return round(statistics.median(subject_times[start::2]) / statistics.median(reference_times[start::2]), 2)

    return {"both_after_the_bare_call": ratio(0), "each_after_the_other": ratio(1)}
