"""The expiry scanner over a growing table with the same due rows: what it reads per due row."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import CALLER
from bench.fakes import AwsCalls, aws_world, canned_sendgrid
from local.container import reset_container


def scanner_scaling(sizes: list[int], due: int, calls: AwsCalls) -> dict[str, Any]:
    import boto3

    from scheduled_sends.app.scanner import run_scan
    from scheduled_sends.entry.bootstrap import services

    sendgrid = canned_sendgrid()
    os.environ["SENDGRID_API_BASE_URL"] = sendgrid.url
    now = int(time.time())
    results = {}
    try:
        for size in sizes:
            with aws_world("SG.bench-key"):
                reset_container()
                table = boto3.resource("dynamodb").Table("batches")
                started = time.perf_counter()
                with table.batch_writer() as writer:
                    for i in range(size):  # tracked, first action two days away
                        writer.put_item(
                            Item={
                                "account": "parent",
                                "batch_id": f"later-{i}",
                                "owner": CALLER,
                                "status": "pause",
                                "send_at": now + 2 * 86400,
                                "version": 1,
                                "due_shard": f"due#{i % 8}",
                                "due_at": now + 2 * 86400,
                            }
                        )
                    for i in range(due):  # due: cancelled an hour before now, only the slot to free
                        writer.put_item(
                            Item={
                                "account": "parent",
                                "batch_id": f"due-{i}",
                                "owner": CALLER,
                                "status": "cancel",
                                "send_at": now - 3600,
                                "version": 1,
                                "due_shard": f"due#{i % 8}",
                                "due_at": now - 60,
                            }
                        )
                load_s = time.perf_counter() - started
                query_before, calls_before = calls.seconds["dynamodb.Query"], calls.snapshot()
                started = time.perf_counter()
                outcome = run_scan(services(), now)
                run_s = time.perf_counter() - started
                query_s = calls.seconds["dynamodb.Query"] - query_before
                made = calls.snapshot() - calls_before
                dynamodb = {k.split(".", 1)[1]: v for k, v in sorted(made.items()) if k.startswith("dynamodb.")}
                results[str(size)] = {
                    "rows_tracked": size + due,
                    "due": outcome.due,
                    "items_read": outcome.items_read,
                    "items_read_per_due": round(outcome.items_read / max(outcome.due, 1), 2),
                    "reclaimed": outcome.reclaimed,
                    "run_s": round(run_s, 3),
                    # moto answers a Query by walking the whole table in Python; DynamoDB reads only the
                    # index range. So the emulator's query time grows with the table and the rest must not.
                    "due_query_s_in_moto": round(query_s, 3),
                    "run_without_query_s": round(run_s - query_s, 3),
                    "load_s": round(load_s, 1),
                    # Every call the run made (the due query's pages, each due row's writes, the registry's).
                    "dynamodb_calls": dynamodb,
                    "dynamodb_calls_total": sum(dynamodb.values()),
                    "other_aws_calls": {k: v for k, v in sorted(made.items()) if not k.startswith("dynamodb.")},
                }
    finally:
        sendgrid.stop()
    return results
