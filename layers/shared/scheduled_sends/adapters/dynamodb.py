"""What every DynamoDB adapter shares: a table over the low-level client, paging through a query or scan, and
recognising a lost condition.

`Table` takes and answers the Python types the boto3 resource's `Table` does (str, int/Decimal, bytes, bool,
None, sets, lists, dicts; numbers come back as Decimal), and `Key(...)`/`Attr(...)` conditions, but it stands
on the low-level client: boto3's resource layer (its JSON resource models and the service model walk on
every call) costs a cold start more than the whole first request of a hand-written handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ..runtime.container import Container
from .aws import aws_client

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize
# Arguments holding one item (a map of attribute values) or a map of placeholder values.
_ITEM_ARGUMENTS = ("Key", "Item", "ExclusiveStartKey", "ExpressionAttributeValues")
_ITEM_ANSWERS = ("Item", "Attributes", "LastEvaluatedKey")
_CONDITIONS = (("KeyConditionExpression", True), ("FilterExpression", False), ("ConditionExpression", False))


def _to_wire(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serialize(value) for name, value in item.items()}


def _from_wire(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserialize(value) for name, value in item.items()}


class Table:
    """One table through the low-level client, with the resource `Table`'s arguments and answers."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = self.table_name = name

    def get_item(self, **arguments: Any) -> dict[str, Any]:
        return self._call(self.client.get_item, arguments)

    def put_item(self, **arguments: Any) -> dict[str, Any]:
        return self._call(self.client.put_item, arguments)

    def update_item(self, **arguments: Any) -> dict[str, Any]:
        return self._call(self.client.update_item, arguments)

    def delete_item(self, **arguments: Any) -> dict[str, Any]:
        return self._call(self.client.delete_item, arguments)

    def query(self, **arguments: Any) -> dict[str, Any]:
        return self._call(self.client.query, arguments)

    def scan(self, **arguments: Any) -> dict[str, Any]:
        return self._call(self.client.scan, arguments)

    def transact_write(self, *actions: tuple[str, dict[str, Any]]) -> None:
        """One TransactWriteItems on this table: each action is (`Update` | `ConditionCheck` | ..., its arguments as
        `update_item` takes them). All are applied or none; a lost condition raises as a conditional write does
        (`conditional_failed`)."""
        self.client.transact_write_items(
            TransactItems=[{kind: {"TableName": self.name, **self._request(arguments)}} for kind, arguments in actions]
        )

    def existing_keys(self, keys: list[dict[str, Any]], attempts: int = 3) -> list[dict[str, Any]]:
        """Which of `keys` are items of the table (BatchGetItem, 100 keys a call, each answer only the keys);
        keys DynamoDB leaves unprocessed are asked again, a few times at most."""
        found: list[dict[str, Any]] = []
        key_names = list(keys[0]) if keys else []
        for start in range(0, len(keys), 100):
            pending = [_to_wire(key) for key in keys[start : start + 100]]
            for _ in range(attempts):
                if not pending:
                    break
                request = {
                    "Keys": pending,
                    "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(key_names))),
                    "ExpressionAttributeNames": {f"#k{i}": name for i, name in enumerate(key_names)},
                }
                answer = self.client.batch_get_item(RequestItems={self.name: request})
                found.extend(_from_wire(item) for item in answer.get("Responses", {}).get(self.name, ()))
                pending = answer.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
        return found

    def _call(self, operation: Callable[..., dict[str, Any]], arguments: dict[str, Any]) -> dict[str, Any]:
        return self._answer(operation(TableName=self.name, **self._request(arguments)))

    @staticmethod
    def _request(arguments: dict[str, Any]) -> dict[str, Any]:
        request = dict(arguments)
        if any(isinstance(request.get(name), ConditionBase) for name, _ in _CONDITIONS):
            builder = ConditionExpressionBuilder()  # placeholders #n0, :v0... unique within this request
            names = dict(request.get("ExpressionAttributeNames") or {})
            values = dict(request.get("ExpressionAttributeValues") or {})
            for name, is_key_condition in _CONDITIONS:
                if isinstance(request.get(name), ConditionBase):
                    built = builder.build_expression(request[name], is_key_condition=is_key_condition)
                    request[name] = built.condition_expression
                    names.update(built.attribute_name_placeholders)
                    values.update(built.attribute_value_placeholders)
            if names:
                request["ExpressionAttributeNames"] = names
            if values:
                request["ExpressionAttributeValues"] = values
        for name in _ITEM_ARGUMENTS:
            if name in request:
                request[name] = _to_wire(request[name])
        return request

    @staticmethod
    def _answer(answer: dict[str, Any]) -> dict[str, Any]:
        for name in _ITEM_ANSWERS:
            if name in answer:
                answer[name] = _from_wire(answer[name])
        if "Items" in answer:
            answer["Items"] = [_from_wire(item) for item in answer["Items"]]
        return answer


def table(container: Container, name: str) -> Table:
    """The container's DynamoDB table `name`, on the container's one DynamoDB client."""
    return Table(aws_client(container, "dynamodb"), name)


# A transaction cancelled for one of these reasons lost to another writer, as a conditional write does.
_LOST_RACE_REASONS = {"ConditionalCheckFailed", "TransactionConflict"}


def conditional_failed(error: ClientError) -> bool:
    """A conditional write's condition did not hold, or a transaction was cancelled by one (or by a concurrent
    transaction on one of its items): either way another writer came first."""
    code = error.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":  # a write met a transaction in progress on the item
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons") or []
        return any(reason.get("Code") in _LOST_RACE_REASONS for reason in reasons)
    return code == "ConditionalCheckFailedException"


def optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def pages(read: Callable[..., dict[str, Any]], **arguments: Any) -> Iterator[dict[str, Any]]:
    """Every page of a DynamoDB query or scan, following LastEvaluatedKey."""
    while True:
        page = read(**arguments)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
