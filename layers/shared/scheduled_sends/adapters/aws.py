"""boto3 clients built from the container's environment (region, credentials, endpoint): one session and one
client per service per container, and no boto3 resource (see `dynamodb.Table`). Lambda's environment is
`os.environ`; the local runner gives each function its own mapping, so no client ever depends on what another
function's environment says."""

from __future__ import annotations

from typing import Any

import boto3

from ..runtime.container import Container, singleton


@singleton
def aws_session(container: Container) -> boto3.session.Session:
    env = container.environ
    return boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
    )


def _endpoint(container: Container) -> str | None:
    return container.environ.get("AWS_ENDPOINT_URL") or None


@singleton
def _clients(container: Container) -> dict[str, Any]:
    return {}


def aws_client(container: Container, service: str) -> Any:
    """The container's one client of `service` (botocore clients are thread-safe; each costs a service model
    and an endpoint ruleset to build, so every adapter of a service shares one)."""
    clients = container.get(_clients.factory)  # type: ignore[attr-defined]
    client = clients.get(service)
    if client is None:
        client = container.get(aws_session.factory).client(service, endpoint_url=_endpoint(container))  # type: ignore[attr-defined]
        client = clients.setdefault(service, client)
    return client
