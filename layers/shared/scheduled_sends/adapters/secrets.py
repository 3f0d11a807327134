"""The only code that reads the SendGrid key: Powertools' `parameters` utility (`SecretsProvider`, on the
container's Secrets Manager client), one GetSecretValue per cache period per container.

The cached key is read again once it is older than the cache period (SECRET_CACHE_SECONDS, Powertools'
`max_age`) or when a caller asks for a refresh (`force_fetch`: SendGrid rejected the key, it may have been
rotated). Failures become `KeyUnavailable`, whose message names neither the secret's value nor the cause; the
key itself is never logged.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parameters import GetParameterError, SecretsProvider

from ..domain.errors import KeyUnavailable
from ..runtime.container import Container, singleton
from ..runtime.settings import settings
from .aws import aws_client


@singleton
def _provider(container: Container) -> SecretsProvider:
    """The container's provider; its cache is the container's, so a new container reads the secret anew."""
    return SecretsProvider(boto3_client=aws_client(container, "secretsmanager"))


def sendgrid_api_key(refresh: bool = False) -> str:
    """The key, from the cache unless it is older than the cache period or `refresh` is asked (key rotation)."""
    config = settings()
    try:
        value = _provider().get(config.sendgrid_secret_arn, max_age=config.secret_cache_seconds, force_fetch=refresh)
    except GetParameterError:
        # The message names no secret value; the cause stays out of it (and out of the logs).
        raise KeyUnavailable("the service could not read its SendGrid key; operators have been alerted") from None
    key = (value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)).strip()
    if not key:
        raise KeyUnavailable("the service's SendGrid key is empty; operators have been alerted")
    return key
