"""The only code that reads the SendGrid key: one Secrets Manager GetSecretValue, cached per container.

The cached key is read again once it is older than the cache period (SECRET_CACHE_SECONDS) or when a caller
asks for a refresh (SendGrid rejected the key: it may have been rotated). Failures become `KeyUnavailable`,
whose message names neither the secret's value nor the cause; the key itself is never logged.
(A reader of our own rather than Powertools' parameters utility, which imports every provider it has.)
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..domain.errors import KeyUnavailable
from ..runtime import clock
from ..runtime.container import Container, singleton
from ..runtime.settings import settings
from .aws import aws_client


class SecretReader:
    """One secret's value, read through `client` and kept for `max_age` seconds."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self._client = client
        self._secret_id = secret_id
        self._cached: tuple[str, float] | None = None  # (value, monotonic time it was read)
        self._lock = threading.Lock()

    def get(self, max_age: float, refresh: bool = False) -> str:
        cached = self._cached
        if cached is not None and not refresh and clock.monotonic() - cached[1] < max_age:
            return cached[0]
        with self._lock:  # one read for concurrent callers (the local runner's threads)
            if self._cached is not cached and self._cached is not None:
                return self._cached[0]  # another caller read it while this one waited
            value = self._read()
            self._cached = (value, clock.monotonic())
            return value

    def _read(self) -> str:
        try:
            answer = self._client.get_secret_value(SecretId=self._secret_id)
        except (ClientError, BotoCoreError):
            # The message names no secret value; the cause stays out of it (and out of the logs).
            raise KeyUnavailable("the service could not read its SendGrid key; operators have been alerted") from None
        value = answer.get("SecretString")
        if value is None:
            value = answer.get("SecretBinary", b"").decode("utf-8", errors="replace")
        return value


@singleton
def _reader(container: Container) -> SecretReader:
    """The container's reader; its cache is the container's, so a new container reads the secret anew."""
    return SecretReader(aws_client(container, "secretsmanager"), settings().sendgrid_secret_arn)


def sendgrid_api_key(refresh: bool = False) -> str:
    """The key, from the cache unless it is older than the cache period or `refresh` is asked (key rotation)."""
    key = _reader().get(settings().secret_cache_seconds, refresh=refresh).strip()
    if not key:
        raise KeyUnavailable("the service's SendGrid key is empty; operators have been alerted")
    return key
