"""The documented library API ("door") beside each hand-written replacement the layer keeps, so `make bench
--only library_doors` measures, in one run, what the replacement saves (see docs/design/decisions).

`DOORS[name]()` makes the documented version once and answers a `Door`: `put_in()` puts it in place in this
process, `take_out()` puts the layer's own back (both cheap: the warm rounds swap them around each request).
`install(name)` does both first steps at once. Imports only the layer and its libraries: the cold request's fresh
interpreter (bench/cold_request.py) runs it too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, NamedTuple


class Door(NamedTuple):
    put_in: Callable[[], None]
    take_out: Callable[[], None]


def _nothing() -> Door:
    """The layer as it is (the other side of each comparison pays the same swapping)."""
    return Door(lambda: None, lambda: None)


def _log_formatter() -> Door:
    """Powertools' formatter through its documented extension point (`serialize`), redaction in it."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    from scheduled_sends.runtime import observability

    class RedactingFormatter(LambdaPowertoolsFormatter):
        def serialize(self, log: dict[str, Any]) -> str:
            return observability.encodable(observability.redact(super().serialize(log)))

        def format(self, record: logging.LogRecord) -> str:
            try:
                return super().format(record)
            except Exception as problem:
                line = json.dumps(
                    {"level": record.levelname, "message": str(record.msg), "log_format_error": repr(problem)}
                )
                return observability.encodable(observability.redact(line))

    handler = observability.logger.registered_handler
    ours, documented = handler.formatter, RedactingFormatter()
    return Door(lambda: handler.setFormatter(documented), lambda: handler.setFormatter(ours))


def _dynamodb_wire() -> Door:
    """boto3's TypeSerializer and TypeDeserializer for every value."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from scheduled_sends.adapters import dynamodb

    ours = dynamodb._serialize, dynamodb._deserialize
    documented = TypeSerializer().serialize, TypeDeserializer().deserialize

    def put_in() -> None:
        dynamodb._serialize, dynamodb._deserialize = documented

    def take_out() -> None:
        dynamodb._serialize, dynamodb._deserialize = ours

    return Door(put_in, take_out)


DOORS: dict[str, Callable[[], Door]] = {
    "none": _nothing,
    "log_formatter": _log_formatter,
    "dynamodb_wire": _dynamodb_wire,
}


def install(name: str) -> None:
    DOORS[name]().put_in()
