from __future__ import annotations

import io
import logging
import os
import secrets
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from pytest_httpserver import HTTPServer

from local.server import LocalService
from local.template import load_template
from tests.support import BASE_ENVIRONMENT, CALLER_ARN, apply_base_environment, reset_layer_state


def pytest_configure(config: pytest.Config) -> None:
    # Lambda sets the template's variables before any import; Powertools reads them at import time.
    os.environ.update({k: v for k, v in BASE_ENVIRONMENT.items() if k.startswith("POWERTOOLS_")})


@pytest.fixture(autouse=True)
def _isolated_layer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    apply_base_environment(monkeypatch)
    reset_layer_state()
    yield
    reset_layer_state()


@pytest.fixture
def api_key() -> str:
    """A canary key: random per test, so a leak is found by searching for it."""
    return f"SG.canary-{secrets.token_urlsafe(24)}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS service, with the template's table and event bus created as the template defines them."""
    with mock_aws():
        table = load_template()["Resources"]["BatchesTable"]["Properties"]
        boto3.client("dynamodb").create_table(
            TableName="batches",
            BillingMode=table["BillingMode"],
            AttributeDefinitions=table["AttributeDefinitions"],
            KeySchema=table["KeySchema"],
            GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"],
        )
        boto3.client("events").create_event_bus(Name="scheduled-sends-events")
        monkeypatch.setenv("BATCHES_TABLE_NAME", "batches")
        monkeypatch.setenv("EVENT_BUS_NAME", "scheduled-sends-events")
        yield


@pytest.fixture
def secret_arn(aws: None, monkeypatch: pytest.MonkeyPatch, api_key: str) -> str:
    arn = boto3.client("secretsmanager").create_secret(Name="test/sendgrid-api-key", SecretString=api_key)["ARN"]
    monkeypatch.setenv("SENDGRID_SECRET_ARN", arn)
    return arn


@pytest.fixture
def fake_sendgrid(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, secret_arn: str) -> HTTPServer:
    """A scripted SendGrid on loopback (real HTTP); the handlers point at it, the key is in moto."""
    monkeypatch.setenv("SENDGRID_API_BASE_URL", httpserver.url_for("/").rstrip("/"))
    return httpserver


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every structured log line the service writes, formatted exactly as in Lambda."""
    from scheduled_sends.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_handler.formatter)
    logger._logger.addHandler(handler)
    yield stream
    logger._logger.removeHandler(handler)


@pytest.fixture
def local_service() -> Iterator[LocalService]:
    """The whole local API (template routes, moto, SendGrid sandbox) on a free port, in this process."""
    service = LocalService(port=0, log=lambda line: None, scan_seconds=0).start()
    yield service
    service.stop()


@pytest.fixture
def as_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default test caller is an admin: for tests about forwarding, not ownership."""
    monkeypatch.setenv("ADMIN_PRINCIPALS", CALLER_ARN)
