"""What an operation takes and answers, independent of how the request arrived (API Gateway today)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .services import Services


@dataclass(frozen=True)
class ApiRequest:
    """The parts of a caller's request the operations use, already checked where no operation differs."""

    method: str
    path_parameters: dict[str, str]
    body: str | None
    on_behalf_of: str | None
    principal: str
    request_id: str
    subusers: tuple[str, ...] = ()  # a team token limited to these `on-behalf-of` values; empty = any
    idempotency_key: str | None = None
    query: dict[str, str] = field(default_factory=dict)  # query string parameters, each given at most once


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


# An operation: the request and the services the composition root built for the container.
Operation = Callable[[ApiRequest, "Services"], ApiResponse]
