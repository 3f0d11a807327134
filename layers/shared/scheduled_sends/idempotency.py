"""Idempotent batch creation: a repeated `Idempotency-Key` (per account and owner) gets the first answer.

Powertools' idempotency utility keeps the answers in the template's DynamoDB table for a set time.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from .config import settings
from .errors import Conflict, Unprocessable
from .sendgrid import remaining_seconds

Create = Callable[[dict[str, Any]], dict[str, Any]]


class _Deadline:
    """What Powertools reads of a Lambda context: the time left, here the request's own deadline, so a
    crashed attempt's in-progress record expires when that request would have been answered."""

    def get_remaining_time_in_millis(self) -> int:
        remaining = remaining_seconds()
        return int((remaining if remaining is not None else settings().budget_seconds) * 1000)


@cache
def _config() -> IdempotencyConfig:
    config = IdempotencyConfig(
        event_key_jmespath="[account, owner, key]",  # one team's key never answers for another
        payload_validation_jmespath="body",
        expires_after_seconds=settings().idempotency_expiry_seconds,
    )
    config.register_lambda_context(_Deadline())
    return config


@cache
def _idempotent(create: Create) -> Create:
    return idempotent_function(
        create,
        data_keyword_argument="request",
        persistence_store=DynamoDBPersistenceLayer(table_name=settings().idempotency_table_name),
        config=_config(),
    )


def once(create: Create, request: dict[str, Any]) -> dict[str, Any]:
    """`create(request=request)`, or the answer it gave before for the same account, owner and key."""
    try:
        return _idempotent(create)(request=request)
    except IdempotencyValidationError:
        raise Unprocessable(
            "this Idempotency-Key was used with a different body; use a new key", field="Idempotency-Key"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict("a request with this Idempotency-Key is still in progress", field="Idempotency-Key") from None
