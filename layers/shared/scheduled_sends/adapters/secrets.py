"""The only code that reads the SendGrid key: Secrets Manager through Powertools, cached per container."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider

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
        # The message names the secret, never its value; the cause stays in our logs only.
        raise KeyUnavailable("the service could not read its SendGrid key; operators have been alerted") from None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    key = str(value).strip()
    if not key:
        raise KeyUnavailable("the service's SendGrid key is empty; operators have been alerted")
    return key
