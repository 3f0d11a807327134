"""moto, as the local runner and the tests use it, never shows a reader half of an UpdateItem (DynamoDB never does)."""

from __future__ import annotations

import sys
import threading

import boto3
from moto import mock_aws

from local.moto_atomic import make_dynamodb_atomic

FIELDS = [f"field{i}" for i in range(12)]
KEY = {"account": {"S": "a"}, "batch_id": {"S": "b"}}


def _torn_items_seen(queries: int) -> int:
    """Three writers set and remove twelve attributes in one UpdateItem each while a reader queries: count the
    items read with some of the twelve but not all. Threads switch every microsecond to make a tear likely."""
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="batches",
            KeySchema=[
                {"AttributeName": "account", "KeyType": "HASH"},
                {"AttributeName": "batch_id", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "account", "AttributeType": "S"},
                {"AttributeName": "batch_id", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="batches", Item=KEY)
        done = threading.Event()

        def write() -> None:
            while not done.is_set():
                dynamodb.update_item(
                    TableName="batches",
                    Key=KEY,
                    UpdateExpression="SET " + ", ".join(f"{f} = :{f}" for f in FIELDS),
                    ExpressionAttributeValues={f":{f}": {"S": "x"} for f in FIELDS},
                )
                dynamodb.update_item(TableName="batches", Key=KEY, UpdateExpression="REMOVE " + ", ".join(FIELDS))

        writers = [threading.Thread(target=write) for _ in range(3)]
        for writer in writers:
            writer.start()
        torn = 0
        try:
            for _ in range(queries):
                (item,) = dynamodb.query(
                    TableName="batches",
                    KeyConditionExpression="account = :a",
                    ExpressionAttributeValues={":a": {"S": "a"}},
                )["Items"]
                torn += sum(f in item for f in FIELDS) not in (0, len(FIELDS))
        finally:
            done.set()
            for writer in writers:
                writer.join()
            sys.setswitchinterval(switch_interval)
        return torn


def test_a_concurrent_query_sees_an_update_whole_or_not_at_all() -> None:
    make_dynamodb_atomic()  # conftest has already done it for the session; doing it again must not wrap twice
    assert _torn_items_seen(queries=300) == 0


def test_wrapping_twice_keeps_one_lock() -> None:
    from moto.dynamodb.responses import DynamoHandler

    before = DynamoHandler.call_action
    make_dynamodb_atomic()
    assert DynamoHandler.call_action is before
