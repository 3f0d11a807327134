"""Warm requests in-process: each handler against the hand-written reference handler and a bare requests call."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.common import BATCH, CALLER, OPERATIONS, REFERENCE, by_order, event_for, handler_of, interleaved, summary
from bench.fakes import AwsCalls, aws_world, canned_sendgrid
from local.container import reset_container


def reference_handler(sendgrid_url: str, api_key: str) -> Callable[[dict, Any], dict]:
    """bench/reference/app.py loaded in this process (inside moto)."""
    import importlib.util

    os.environ.update({"SENDGRID_API_BASE_URL": sendgrid_url, "SENDGRID_API_KEY": api_key})
    spec = importlib.util.spec_from_file_location("bench_reference", REFERENCE / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def warm_overhead(repetitions: int, calls: AwsCalls) -> dict[str, Any]:
    """Each handler in-process against the loopback SendGrid versus the hand-written reference handler
    (bench/reference: one GetItem, one `requests` call) and a bare requests.Session call of the same method and
    path, interleaved so machine noise hits all alike. "Without table": each request's time less the time of
    its own DynamoDB calls (in moto), then the median."""
    import requests

    from local.events import LocalLambdaContext
    from scheduled_sends.adapters.batches_table import batch_store
    from scheduled_sends.domain.batch import Batch

    api_key = "SG.bench-key"
    sendgrid = canned_sendgrid()
    os.environ["SENDGRID_API_BASE_URL"] = sendgrid.url
    results: dict[str, Any] = {}
    try:
        with aws_world(api_key):
            reset_container()
            owned = Batch("parent", BATCH, CALLER, status="pause")  # paused: list finds it in the active index
            batch_store().change("parent", BATCH, lambda _c: owned, int(time.time()))
            reset_calls: Counter[str] = Counter()  # the bench's own writes between requests, not counted

            def unpaused() -> None:
                """What a pause meets: the team's batch as created, with its send_at (a day ahead) and no status.
                Made between two requests (the row is left paused by each); its calls are not counted."""
                before_reset = calls.snapshot()
                created = Batch("parent", BATCH, CALLER, send_at=int(time.time()) + 86400)
                batch_store().change("parent", BATCH, lambda _c: created, int(time.time()))
                reset_calls.update(calls.snapshot() - before_reset)

            between = {"pause_or_cancel": unpaused}
            bare = requests.Session()
            reference = reference_handler(sendgrid.url, api_key)
            for function, (method, resource, body) in OPERATIONS.items():
                handler, event = handler_of(function), event_for(function)
                context = LocalLambdaContext(function_name=function)
                url = sendgrid.url + "/v3" + resource.replace("{batch_id}", BATCH)
                data = json.dumps(body).encode() if body else None
                headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
                prepare = between.get(function, lambda: None)
                for _ in range(20):  # warm: imports, clients, the secret cache, keep-alive connections
                    prepare()
                    handler(event, context)
                    reference(event, context)
                    bare.request(method, url, headers=headers, data=data)
                prepare()
                before = calls.snapshot()
                reset_calls.clear()
                own_times: list[float] = []  # each request's time less the time inside its table calls
                reference_times: list[float] = []  # the same for the reference
                table_seconds = [0.0]  # inside our table calls

                def subject(
                    h: Any = handler,
                    e: dict = event,
                    c: Any = context,
                    own: list = own_times,
                    spent: list = table_seconds,
                ) -> Any:
                    table_before, started = calls.seconds["dynamodb"], time.perf_counter()
                    answer = h(e, c)
                    in_table = calls.seconds["dynamodb"] - table_before
                    own.append(time.perf_counter() - started - in_table)
                    spent[0] += in_table
                    return answer

                def bare_call(
                    m: str = method, u: str = url, h: dict[str, str] = headers, d: bytes | None = data
                ) -> Any:
                    return bare.request(m, u, headers=h, data=d)

                def by_hand(
                    e: dict = event, c: Any = context, own: list = reference_times, p: Callable[[], None] = prepare
                ) -> None:
                    table_before, started = calls.seconds["dynamodb"], time.perf_counter()
                    answer = reference(e, c)
                    own.append(time.perf_counter() - started - (calls.seconds["dynamodb"] - table_before))
                    assert answer["statusCode"] < 300, answer
                    p()  # between two of the subject's requests, whichever order the baselines run in

                answer, handler_times, bare_times = interleaved(
                    repetitions,
                    subject,
                    bare_call,
                    by_hand,
                )
                assert answer["statusCode"] < 300, answer
                delta = calls.snapshot() - before - reset_calls
                delta["dynamodb.GetItem"] -= repetitions  # the reference's one GetItem per request
                dynamodb = {
                    k.split(".", 1)[1]: round(v / repetitions, 2)
                    for k, v in delta.items()
                    if k.startswith("dynamodb.") and v > 0
                }
                handler_stats, bare_stats = summary(handler_times), summary(bare_times)
                # Per request: its time less its own table calls' time (in moto here), then the median.
                without_table, reference_stats = summary(own_times), summary(reference_times)
                results[function] = {
                    "handler": handler_stats,
                    "bare_requests": bare_stats,
                    "ratio_median": round(handler_stats["median_ms"] / bare_stats["median_ms"], 2),
                    "dynamodb_ms_per_request_in_moto": round(table_seconds[0] / repetitions * 1000, 3),
                    "handler_without_dynamodb": without_table,
                    "ratio_median_without_dynamodb": round(without_table["median_ms"] / bare_stats["median_ms"], 2),
                    "reference_without_dynamodb": reference_stats,
                    "ratio_vs_reference_without_dynamodb": round(
                        without_table["median_ms"] / reference_stats["median_ms"], 2
                    ),
                    "ratio_vs_reference_without_dynamodb_by_order": by_order(own_times, reference_times),
                    "dynamodb_calls_per_request": dynamodb,
                    "dynamodb_calls_total_per_request": round(sum(dynamodb.values()), 2),
                }
    finally:
        sendgrid.stop()
    return results
