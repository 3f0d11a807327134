"""Idempotent batch creation: a repeated `Idempotency-Key` (per account and owner) gets the first answer.

Powertools' idempotency utility keeps the answers in the template's DynamoDB table for a set time. It is
imported by the first request that sends an Idempotency-Key, not by every function's cold start (only
create_batch_id uses it, and only with the header).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from ..domain.errors import Conflict, Unprocessable
from ..runtime.clock import Clock

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext


class Create(Protocol):
    """What makes the answer to remember: called with the request as the keyword `request`."""

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]: ...


class _Deadline:
    """What Powertools reads of a Lambda context: the time left, here the request's own deadline, so a
    crashed attempt's in-progress record expires when that request would have been answered."""

    def __init__(self, clock: Clock, budget_seconds: float) -> None:
        self._clock, self._budget_seconds = clock, budget_seconds

    def get_remaining_time_in_millis(self) -> int:
        remaining = self._clock.remaining_seconds()
        return int((remaining if remaining is not None else self._budget_seconds) * 1000)


class IdempotentCreates:
    """Powertools' idempotency over the template's table, built on the first request with an Idempotency-Key and
    kept for the container's life (the composition root builds one per container)."""

    def __init__(
        self,
        table_name: str,
        dynamodb_client: Callable[[], Any],
        expires_after_seconds: int,
        clock: Clock,
        budget_seconds: float,
    ) -> None:
        self._table_name, self._dynamodb_client = table_name, dynamodb_client
        self._expires_after_seconds = expires_after_seconds
        self._deadline = _Deadline(clock, budget_seconds)
        self._built: tuple[IdempotencyConfig, DynamoDBPersistenceLayer] | None = None

    def _parts(self) -> tuple[IdempotencyConfig, DynamoDBPersistenceLayer]:
        if self._built is None:
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

            config = IdempotencyConfig(
                event_key_jmespath="[account, owner, key]",  # one team's key never answers for another
                payload_validation_jmespath="body",
                expires_after_seconds=self._expires_after_seconds,
            )
            config.register_lambda_context(cast("LambdaContext", self._deadline))  # what Powertools reads of one
            persistence = DynamoDBPersistenceLayer(table_name=self._table_name, boto3_client=self._dynamodb_client())
            self._built = (config, persistence)
        return self._built

    def _idempotent(self, create: Create) -> Create:
        from aws_lambda_powertools.utilities.idempotency import idempotent_function

        config, persistence = self._parts()
        wrapped: Create = idempotent_function(
            create, data_keyword_argument="request", persistence_store=persistence, config=config
        )
        return wrapped

    def once(self, create: Create, request: dict[str, Any]) -> dict[str, Any]:
        """`create(request=request)`, or the answer it gave before for the same account, owner and key."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        try:
            return self._idempotent(create)(request=request)
        except IdempotencyValidationError:
            raise Unprocessable(
                "this Idempotency-Key was used with a different body; use a new key", field="Idempotency-Key"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress", field="Idempotency-Key"
            ) from None
