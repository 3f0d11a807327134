"""The team-token authorizer in-process versus the bare GetItem it has to make."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import handler_of, interleaved, summary
from bench.fakes import aws_world
from local.container import reset_container


def authorizer_overhead(repetitions: int) -> dict[str, Any]:
    """The team-token authorizer in-process (moto DynamoDB) versus the bare GetItem it has to make."""
    import boto3

    from local.events import LocalLambdaContext
    from local.template import create_table, load_template
    from scheduled_sends.adapters.token_table import TokenStore
    from scheduled_sends.domain import tokens

    with aws_world("SG.bench-key"):
        properties = load_template()["Resources"]["TeamTokensTable"]["Properties"]
        create_table(boto3.client("dynamodb"), "bench-tokens", properties)
        os.environ["TEAM_TOKENS_TABLE_NAME"] = "bench-tokens"
        reset_container()
        table = boto3.resource("dynamodb").Table("bench-tokens")
        token, record = tokens.new_token("bench", [], now=int(time.time()))
        TokenStore(table).add(record)
        handler, context = handler_of("token_authorizer"), LocalLambdaContext(function_name="token_authorizer")
        event = {
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/v3/GET/user/scheduled_sends",
            "headers": {"Authorization": f"Bearer {token}"},
        }
        for _ in range(20):
            handler(event, context)
        answer, handler_times, bare_times = interleaved(
            repetitions,
            lambda: handler(event, context),
            lambda: table.get_item(Key={"token_id": record.token_id}, ConsistentRead=True),
        )
        assert answer["principalId"] == "team:bench", answer
    handler_stats, bare_stats = summary(handler_times), summary(bare_times)
    return {
        "authorizer": handler_stats,
        "bare_get_item": bare_stats,
        "ratio_median": round(handler_stats["median_ms"] / bare_stats["median_ms"], 2),
    }
