"""Idempotent batch creation: a repeated `Idempotency-Key` (per account and owner) gets the first answer.

Powertools' idempotency utility keeps the answers in the template's DynamoDB table for a set time. It is
imported by the first request that sends an Idempotency-Key, not by every function's cold start (only
create_batch_id uses it, and only with the header).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..adapters.aws import aws_client
from ..domain.errors import Conflict, Unprocessable
from ..runtime import clock
from ..runtime.container import Container, singleton
from ..runtime.settings import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig


class Create(Protocol):
    """A creation Powertools can make idempotent: it hands the request over as the keyword `request`."""

    def __call__(self, *, request: dict[str, Any]) -> dict[str, Any]: ...


class _Deadline:
    """What Powertools reads of a Lambda context: the time left, here the request's own deadline, so a
    crashed attempt's in-progress record expires when that request would have been answered."""

    def get_remaining_time_in_millis(self) -> int:
        remaining = clock.remaining_seconds()
        return int((remaining if remaining is not None else settings().budget_seconds) * 1000)


@singleton
def _config(container: Container) -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    config = IdempotencyConfig(
        event_key_jmespath="[account, owner, key]",  # one team's key never answers for another
        payload_validation_jmespath="body",
        expires_after_seconds=settings().idempotency_expiry_seconds,
    )
    config.register_lambda_context(_Deadline())  # type: ignore[arg-type]  # it reads only the time left
    return config


@singleton
def _persistence(container: Container) -> DynamoDBPersistenceLayer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=settings().idempotency_table_name, boto3_client=aws_client(container, "dynamodb")
    )


def _idempotent(create: Create) -> Create:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    idempotent: Create = idempotent_function(
        create, data_keyword_argument="request", persistence_store=_persistence(), config=_config()
    )
    return idempotent


def once(create: Create, request: dict[str, Any]) -> dict[str, Any]:
    """`create(request=request)`, or the answer it gave before for the same account, owner and key."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    try:
        return _idempotent(create)(request=request)
    except IdempotencyValidationError:
        raise Unprocessable(
            "this Idempotency-Key was used with a different body; use a new key", field="Idempotency-Key"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict("a request with this Idempotency-Key is still in progress", field="Idempotency-Key") from None
