"""What every DynamoDB adapter shares: paging through a query or scan, and recognising a lost condition."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError


def conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


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
