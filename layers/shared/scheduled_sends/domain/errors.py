"""Error types of the service. `entry.api` turns each into an HTTP status and a SendGrid-style body."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error answered to the caller as `{"errors": [{"field": ..., "message": ...}]}`."""

    status = 500

    def __init__(
        self,
        message: str,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}  # extension fields beside "errors"
        self.headers = headers or {}  # e.g. Retry-After


class BadRequest(ServiceError):
    status = 400


class Forbidden(ServiceError):
    """The batch belongs to another principal, or the service has never seen it."""

    status = 403


class NotFound(ServiceError):
    """Nothing in the table under that key (the admin routes: they never ask SendGrid)."""

    status = 404


class Conflict(ServiceError):
    status = 409


class Unprocessable(ServiceError):
    status = 422


class PayloadTooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


class UpstreamKeyRejected(ServiceError):
    """SendGrid refused the service's own key (401/403) even after a secret refresh: an operator problem."""

    status = 502


class UpstreamUnavailable(ServiceError):
    """SendGrid answered 5xx (or something unusable) or could not be reached."""

    status = 502


class UpstreamRateLimited(ServiceError):
    """SendGrid kept answering 429 until our deadline: the caller should come back later."""

    status = 503


class UpstreamTimeout(ServiceError):
    status = 504


class KeyUnavailable(ServiceError):
    """The SendGrid key could not be read from Secrets Manager (missing secret, no permission, empty)."""

    status = 500


class StateUnavailable(ServiceError):
    """The service could not write its own record (DynamoDB) where answering without it would mislead."""

    status = 503


class RegionUnknown(ServiceError):
    """The SendGrid region of the account cannot be known now (SendGrid's subuser list cannot be read, or the
    operators pinned it to both regions): nothing is forwarded rather than a host guessed."""

    status = 503

    def __init__(self, message: str, field: str | None = "on-behalf-of", retry_after_seconds: int = 60) -> None:
        super().__init__(message, field=field, headers={"Retry-After": str(retry_after_seconds)})


class SubuserNotListed(ServiceError):
    """SendGrid's subuser list was read and does not name the `on-behalf-of` subuser: the caller's mistake
    (a typo, or a subuser deleted since), never worth retrying as it is. Nothing is forwarded and nothing is
    registered; reconcile sets such an account aside rather than failing every run."""

    status = 400

    def __init__(self, message: str, field: str | None = "on-behalf-of") -> None:
        super().__init__(message, field=field)
