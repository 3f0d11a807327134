"""`adapters.dynamodb.Table` (the low-level client with the resource Table's arguments) answers exactly what the
boto3 resource's Table answers, for every call the stores make."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from scheduled_sends.adapters.dynamodb import Table, conditional_failed, pages

ITEM = {
    "account": "parent",
    "batch_id": "b-1",
    "owner": "arn:aws:iam::1:user/a",
    "status": "pause",
    "send_at": 1_800_000_000,
    "warned": {86400, 3600},
    "ratio": Decimal("0.25"),
    "blob": b"\x00\x01",
    "flag": True,
    "nothing": None,
    "tags": ["x", 1, {"nested": {"deep": [Decimal(2)]}}],
    "names": {"a", "b"},
    "active_account": "parent",
}


@pytest.fixture
def tables(aws: None) -> tuple[Table, object]:
    return Table(boto3.client("dynamodb"), "batches"), boto3.resource("dynamodb").Table("batches")


def test_put_get_update_answer_as_the_resource_does(tables: tuple[Table, object]) -> None:
    ours, theirs = tables
    ours.put_item(Item=ITEM, ConditionExpression="attribute_not_exists(#v)", ExpressionAttributeNames={"#v": "version"})
    key = {"account": "parent", "batch_id": "b-1"}
    assert ours.get_item(Key=key, ConsistentRead=True)["Item"] == theirs.get_item(Key=key, ConsistentRead=True)["Item"]
    assert ours.get_item(Key=key)["Item"]["send_at"] == Decimal(1_800_000_000)
    assert "Item" not in ours.get_item(Key={"account": "parent", "batch_id": "none"})

    answer = ours.update_item(
        Key=key,
        UpdateExpression="ADD #w :t SET #s = :s",
        ConditionExpression=Attr("status").eq("pause") & Attr("owner").exists(),
        ExpressionAttributeNames={"#w": "warned", "#s": "status"},
        ExpressionAttributeValues={":t": {Decimal(21600)}, ":s": "cancel"},
        ReturnValues="ALL_NEW",
    )
    assert answer["Attributes"] == theirs.get_item(Key=key)["Item"]
    assert answer["Attributes"]["warned"] == {Decimal(86400), Decimal(21600), Decimal(3600)}
    assert answer["Attributes"]["status"] == "cancel"


def test_a_lost_condition_is_the_same_client_error(tables: tuple[Table, object]) -> None:
    ours, _ = tables
    ours.put_item(Item={"account": "parent", "batch_id": "b-2", "version": 1})
    with pytest.raises(ClientError) as raised:
        ours.update_item(
            Key={"account": "parent", "batch_id": "b-2"},
            UpdateExpression="SET #v = :n",
            ConditionExpression="#v = :expected",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":n": 3, ":expected": 2},
        )
    assert conditional_failed(raised.value)


def test_query_and_scan_with_key_conditions_filters_and_pages(tables: tuple[Table, object]) -> None:
    ours, theirs = tables
    for i in range(7):
        ours.put_item(Item={**ITEM, "batch_id": f"b-{i}", "due_shard": "due#0", "due_at": 100 + i})
    ours.put_item(Item={"account": "other", "batch_id": "x"})

    condition = Key("due_shard").eq("due#0") & Key("due_at").lte(104)
    arguments = {"IndexName": "due", "KeyConditionExpression": condition, "Limit": 2}
    paged = [page for page in pages(ours.query, **arguments)]
    assert len(paged) >= 3 and all("LastEvaluatedKey" in page for page in paged[:-1])
    assert isinstance(paged[0]["LastEvaluatedKey"]["due_at"], Decimal)  # Python types, fed back as they came
    found = [item for page in paged for item in page["Items"]]
    expected = [item for page in pages(theirs.query, **arguments) for item in page["Items"]]
    assert found == expected and [item["due_at"] for item in found] == [100, 101, 102, 103, 104]

    active = ours.query(
        IndexName="active",
        KeyConditionExpression=Key("active_account").eq("parent"),
        FilterExpression=Attr("due_at").gte(105),
    )
    assert sorted(item["batch_id"] for item in active["Items"]) == ["b-5", "b-6"]

    scanned = [item for page in pages(ours.scan, Limit=3) for item in page["Items"]]
    assert len(scanned) == 8
    assert sorted(map(repr, scanned)) == sorted(map(repr, theirs.scan()["Items"]))


def test_a_key_condition_beside_expression_values_of_our_own(tables: tuple[Table, object]) -> None:
    ours, _ = tables
    ours.put_item(Item={"account": "parent", "batch_id": "b-9", "status": "pause"})
    answer = ours.query(
        KeyConditionExpression=Key("account").eq("parent"),
        FilterExpression="#s = :wanted",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":wanted": "pause"},
    )
    assert [item["batch_id"] for item in answer["Items"]] == ["b-9"]
