"""The SendGrid key reader (Powertools' parameters utility): one GetSecretValue per cache period, a forced
refresh on demand, KeyUnavailable (naming nothing secret) when Secrets Manager cannot answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
import time_machine

from scheduled_sends.adapters import secrets
from scheduled_sends.adapters.aws import aws_client
from scheduled_sends.domain.errors import KeyUnavailable
from scheduled_sends.runtime.container import current


class Reads:
    """Counts GetSecretValue calls made by the reader's client."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **_: object) -> None:
        self.count += 1


@pytest.fixture(autouse=True)
def _sendgrid_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_BASE_URL", "http://127.0.0.1:9")  # a setting; nothing is sent here


@pytest.fixture
def wall_clock() -> Iterator[time_machine.Coordinates]:
    """The wall clock held still (Powertools' cache ages by it), moved only by the test."""
    with time_machine.travel(datetime(2026, 11, 24, 12, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def reads(secret_arn: str) -> Reads:
    """GetSecretValue calls made by the container's Secrets Manager client (the one the reader is given)."""
    counter = Reads()
    client = aws_client(current(), "secretsmanager")
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", counter)
    return counter


def test_the_key_is_read_once_per_cache_period(
    reads: Reads, wall_clock: time_machine.Coordinates, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "300")
    assert [secrets.sendgrid_api_key() for _ in range(5)] == [api_key] * 5
    assert reads.count == 1
    wall_clock.shift(299)
    secrets.sendgrid_api_key()
    assert reads.count == 1
    wall_clock.shift(2)  # older than the cache period: read again
    secrets.sendgrid_api_key()
    assert reads.count == 2


def test_a_refresh_reads_the_rotated_key_at_once(
    reads: Reads, wall_clock: time_machine.Coordinates, secret_arn: str
) -> None:
    first = secrets.sendgrid_api_key()
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString="SG.rotated-key")
    assert secrets.sendgrid_api_key() == first  # cached
    assert secrets.sendgrid_api_key(refresh=True) == "SG.rotated-key"
    assert secrets.sendgrid_api_key() == "SG.rotated-key"
    assert reads.count == 2


def test_a_binary_secret_is_read_as_text(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="binary", SecretBinary=b" SG.binary-key\n")["ARN"]
    monkeypatch.setenv("SENDGRID_SECRET_ARN", arn)
    assert secrets.sendgrid_api_key() == "SG.binary-key"


def test_a_blank_key_is_unavailable(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="blank", SecretString="  \n")["ARN"]
    monkeypatch.setenv("SENDGRID_SECRET_ARN", arn)
    with pytest.raises(KeyUnavailable, match="empty"):
        secrets.sendgrid_api_key()


def test_an_unreadable_secret_is_unavailable_and_names_nothing(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"
    monkeypatch.setenv("SENDGRID_SECRET_ARN", missing)
    with pytest.raises(KeyUnavailable) as raised:
        secrets.sendgrid_api_key()
    assert "missing" not in str(raised.value) and raised.value.__cause__ is None
