"""Secret reads: GetSecretValue calls in one container over many warm invocations."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import event_for, handler_of
from bench.fakes import AwsCalls, aws_world, canned_sendgrid
from local.container import reset_container


def secret_reads(invocations: int, calls: AwsCalls) -> dict[str, Any]:
    from local.events import LocalLambdaContext

    sendgrid = canned_sendgrid()
    os.environ["SENDGRID_API_BASE_URL"] = sendgrid.url
    try:
        with aws_world("SG.bench-key"):
            reset_container()  # a fresh container
            handler, event = handler_of("list_scheduled_sends"), event_for("list_scheduled_sends")
            before = calls.snapshot()
            started = time.perf_counter()
            for _ in range(invocations):
                handler(event, LocalLambdaContext(function_name="list"))
            elapsed = time.perf_counter() - started
            reads = (calls.snapshot() - before)["secretsmanager.GetSecretValue"]
    finally:
        sendgrid.stop()
    return {"invocations": invocations, "secret_reads": reads, "elapsed_s": round(elapsed, 2), "cache_period_s": 300}
