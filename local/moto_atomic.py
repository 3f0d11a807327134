"""DynamoDB requests to moto, one at a time, so that moto keeps DynamoDB's item-level atomicity.

Real DynamoDB never shows a reader half of an UpdateItem. moto applies an update expression to the stored item
clause by clause, in place, so a Query or GetItem from another thread can see an item with some of the new
attributes and not yet the rest: measured, five writers and one reader on moto 5.2.5 saw 10 torn items in 400
queries (a row with `change_id` but no `previous_status` broke a concurrent pause in CI). The local runner and the
tests serve several requests at once, so they take one lock around each DynamoDB and DynamoDB Streams action.
This is emulator fidelity only; nothing here is deployed.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()
_MARK = "_scheduled_sends_atomic"


def make_dynamodb_atomic() -> None:
    """Wrap moto's DynamoDB and Streams handlers so each action runs alone (idempotent: wraps once)."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        call_action = handler.call_action
        if getattr(call_action, _MARK, False):
            continue

        def atomic_call_action(self: Any, _call_action: Any = call_action) -> Any:
            with _LOCK:
                return _call_action(self)

        setattr(atomic_call_action, _MARK, True)
        handler.call_action = atomic_call_action  # type: ignore[method-assign]


KEPT_READ_RECORDS = 200  # a second reader from the oldest record still sees the recent ones (tests do)


def forget_read_stream_records(stream_arn: str, shard_id: str, last_read: str) -> None:
    """Drop the records of a moto table's stream read up to `last_read`, but the last `KEPT_READ_RECORDS` of them
    (sequence numbers kept): DynamoDB keeps a stream's records 24 hours, moto keeps every one, and every
    TransactWriteItems copies the whole table, its stream included, as its rollback backup, so a long local run (or a
    long test) slows with every record ever written. Only the local pipe, the stream's reader, calls this."""
    from moto.backends import get_backend

    _, _, _, region, account, resource = stream_arn.split(":", 5)
    table_name = resource.split("/")[1]
    with _LOCK:
        table = get_backend("dynamodb")[account][region].tables.get(table_name)
        shard = None if table is None else table.stream_shard
        if shard is None or shard.id != shard_id:
            return
        read = int(last_read) - shard.starting_sequence_number + 1 - KEPT_READ_RECORDS
        if read > 0:
            del shard.items[:read]
            shard.starting_sequence_number += read
