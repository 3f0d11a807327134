from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pytest_httpserver import HTTPServer

from local.container import reset_container
from local.moto_atomic import make_dynamodb_atomic
from local.pipe import STREAMS_CLIENT_CONFIG, table_pipe
from local.sendgrid_sandbox import SendGridSandbox
from local.server import LocalService
from local.template import create_table, load_template
from tests.support import (
    BASE_ENVIRONMENT,
    CALLER_ARN,
    CANARY_KEY,
    RESPONSES,
    VirtualTime,
    apply_base_environment,
    assert_matches_its_schema,
)


def pytest_configure(config: pytest.Config) -> None:
    # Lambda sets the template's variables before any import; Powertools reads them at import time.
    os.environ.update({k: v for k, v in BASE_ENVIRONMENT.items() if k.startswith("POWERTOOLS_")})
    make_dynamodb_atomic()  # tests call handlers from several threads, as Lambda's many containers would
    _share_botocore_models()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (the order stays otherwise): each is one long run that no worker can split, so
    under pytest-xdist (make test) they start at once rather than leave one worker busy at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _share_botocore_models() -> None:
    """Every boto3 session of the suite reads the service models through one botocore loader. Each test plays
    fresh Lambda containers (a new session each, and the local server one per function), and a new session's
    own loader parses the models' JSON again: about 0.1 s of CPU per session, most of the suite's AWS setup.
    The loader hands out the same parsed models either way (one session's clients already share them)."""
    import botocore.session

    create_loader = botocore.session.create_loader
    loaders: dict[str | None, Any] = {}

    def shared(search_path_string: str | None = None) -> Any:
        if search_path_string not in loaders:
            loaders[search_path_string] = create_loader(search_path_string)
        return loaders[search_path_string]

    botocore.session.create_loader = shared


@pytest.fixture(autouse=True)
def _isolated_layer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    apply_base_environment(monkeypatch)
    reset_container()
    yield
    reset_container()


@pytest.fixture
def api_key() -> str:
    """The suite's canary key: random per run, so a leak is found by searching for it."""
    return CANARY_KEY


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS service, with the template's table and event bus created as the template defines them."""
    with mock_aws():
        resources = load_template()["Resources"]
        for logical, name, variable in (
            ("BatchesTable", "batches", "BATCHES_TABLE_NAME"),
            ("IdempotencyTable", "idempotency", "IDEMPOTENCY_TABLE_NAME"),
        ):
            create_table(boto3.client("dynamodb"), name, resources[logical]["Properties"])
            monkeypatch.setenv(variable, name)
        boto3.client("events").create_event_bus(Name="scheduled-sends-events")
        monkeypatch.setenv("EVENT_BUS_NAME", "scheduled-sends-events")
        yield


@pytest.fixture
def secret_arn(aws: None, monkeypatch: pytest.MonkeyPatch, api_key: str) -> str:
    arn = boto3.client("secretsmanager").create_secret(Name="test/sendgrid-api-key", SecretString=api_key)["ARN"]
    monkeypatch.setenv("SENDGRID_SECRET_ARN", arn)
    return arn


@pytest.fixture
def fake_sendgrid(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, secret_arn: str) -> HTTPServer:
    """A scripted SendGrid on loopback (real HTTP); the handlers point at it, the key is in moto. It answers only
    what a test scripts, so every subuser is pinned global (GlobalSubusers=*: the subuser list is never read)."""
    monkeypatch.setenv("SENDGRID_API_BASE_URL", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("GLOBAL_SUBUSERS", "*")
    return httpserver


class _Utf8Stream(io.StringIO):
    """A stream that, like Lambda's stdout, takes only text that encodes as UTF-8: a line that does not is lost
    (logging reports the error on stderr and goes on)."""

    def write(self, text: str) -> int:
        text.encode("utf-8")
        return super().write(text)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every structured log line the service writes, formatted and encoded exactly as in Lambda."""
    from scheduled_sends.runtime.observability import logger

    stream = _Utf8Stream()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_handler.formatter)
    logger._logger.addHandler(handler)
    yield stream
    logger._logger.removeHandler(handler)


@pytest.fixture
def start_local_service() -> Iterator[Callable[..., LocalService]]:
    """Starts the whole local API (template routes, moto, SendGrid sandbox) on a free port, in this process,
    with the options given (e.g. `parameters={"AdminPrincipals": ...}`); each is stopped after the test. No
    background scans or event collection unless asked for: tests scan (`scan_now`) and read events when they mean to."""
    started: list[LocalService] = []

    def start(**options: Any) -> LocalService:
        defaults = {"port": 0, "log": lambda line: None, "scan_seconds": 0, "events_seconds": 0}
        service = LocalService(**{**defaults, "sendgrid_api_key": CANARY_KEY, **options}).start()
        started.append(service)
        record_answers(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def local_service(start_local_service: Callable[..., LocalService]) -> LocalService:
    """The whole local API with the template's default parameters."""
    return start_local_service()


@pytest.fixture
def as_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default test caller is an admin: for tests about forwarding, not ownership."""
    monkeypatch.setenv("ADMIN_PRINCIPALS", CALLER_ARN)


@pytest.fixture
def sandbox_sendgrid(secret_arn: str, api_key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SendGridSandbox]:
    """The stateful SendGrid sandbox on loopback, holding the same key as the moto secret."""
    sandbox = SendGridSandbox(api_key).start()
    monkeypatch.setenv("SENDGRID_API_BASE_URL", sandbox.url)
    yield sandbox
    sandbox.stop()


# The parent's subusers of the two-region tests: one of each region.
REGIONAL_SUBUSERS = {"acme": "global", "eurocorp": "eu"}


@pytest.fixture
def regional_sandboxes(
    secret_arn: str, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, SendGridSandbox]]:
    """Both SendGrid hosts, each a sandbox serving only its region's accounts (REGIONAL_SUBUSERS; the parent is
    global), holding the same key as the moto secret; the handlers point at both."""
    sandboxes = {
        region: SendGridSandbox(api_key, region=region, subusers=REGIONAL_SUBUSERS).start()
        for region in ("global", "eu")
    }
    monkeypatch.setenv("SENDGRID_API_BASE_URL", sandboxes["global"].url)
    monkeypatch.setenv("SENDGRID_EU_API_BASE_URL", sandboxes["eu"].url)
    yield sandboxes
    for sandbox in sandboxes.values():
        sandbox.stop()


class Clock:
    """The service's clock, moved by tests (they never sleep)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from scheduled_sends.runtime import clock as service_clock

    fake = Clock(1_795_000_000)
    monkeypatch.setattr(service_clock, "now", fake)
    return fake


@pytest.fixture
def virtual_time(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """The service's monotonic clock and its waits on virtual time (see `VirtualTime`), and a SendGrid read timeout
    no loaded machine reaches: for tests that must make the same calls in every run, on any machine and under any load
    (a slow answer is a chosen fault, never the machine's)."""
    from scheduled_sends.runtime import clock as service_clock

    monkeypatch.setenv("SENDGRID_READ_TIMEOUT_SECONDS", "10")
    virtual = VirtualTime()
    monkeypatch.setattr(service_clock, "monotonic", virtual.monotonic)
    monkeypatch.setattr(service_clock, "sleep", virtual.sleep)
    return virtual


@pytest.fixture
def published_events(aws: None) -> Callable[[], list[dict]]:
    """Every event the service puts on its bus, read back through a rule and an SQS queue (as a subscriber would):
    the scanner's, and the change events the template's pipe makes of the batches table's stream (`local.pipe`
    applies the pipe's filter and input template to moto's stream records, then puts the events on the bus)."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    streams = boto3.client("dynamodbstreams", config=STREAMS_CLIENT_CONFIG)
    pipe = table_pipe(load_template(), boto3.client("dynamodb"), streams, events, "batches", "scheduled-sends-events")
    queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName="scheduled-sends-events", EventPattern='{"source": ["scheduled-sends"]}')
    events.put_targets(Rule="all", EventBusName="scheduled-sends-events", Targets=[{"Id": "q", "Arn": queue_arn}])

    def drain() -> list[dict]:
        pipe.pump()
        received: list[dict] = []
        RESPONSES.append(received)  # published events are checked for the canary too
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return received
            for message in messages:
                event = json.loads(message["Body"])
                assert_matches_its_schema(event)  # every published event, in every test, against its schema
                received.append(event)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return drain


def record_answers(service: LocalService) -> None:
    """Keep every answer the local server gives, for the canary check."""
    dispatch = service.dispatch

    def recording(*args, **kwargs):
        answer = dispatch(*args, **kwargs)
        RESPONSES.append({"status": answer[0], "headers": answer[1], "body": answer[2].decode("utf-8", "replace")})
        return answer

    service.dispatch = recording  # type: ignore[method-assign]


def leaked(texts: list[str]) -> bool:
    return any(CANARY_KEY in text for text in texts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """The canary check of the whole suite: no captured log line, stdout/stderr (logs and EMF metrics),
    response body or header, or published event may contain the SendGrid key."""
    outcome = yield
    report = outcome.get_result()
    texts = [report.capstdout, report.capstderr, report.caplog, json.dumps(RESPONSES, default=str)]
    if report.when == "teardown":
        RESPONSES.clear()
    if report.passed and leaked(texts):
        report.outcome = "failed"
        report.longrepr = f"the SendGrid key leaked during {report.when}: it appears in output, logs or a response"
