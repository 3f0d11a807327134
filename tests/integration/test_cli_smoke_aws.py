"""`scheduled-sends smoke --stack NAME`, the AWS path, as far as moto goes: the stack found in CloudFormation, a
temporary EventBridge rule on the stack's bus -> a temporary SQS queue (policy: only that rule may send), the
change events read from it, the scanner's AWS/Lambda metrics read from CloudWatch, and everything the check made
deleted afterwards, also when a step fails. The service itself is a fake on loopback that puts the change events
on the moto bus as the stack's pipe would.

Not covered here (moto does not model it): EventBridge's delay before a new rule matches, the queue policy being
enforced, real Lambda metrics, IAM permissions the operator needs."""

from __future__ import annotations

import io
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from scheduled_sends_cli import scanner_check, smoke
from scheduled_sends_cli.bus_watch import AwsBusWatch
from scheduled_sends_cli.outcome import CommandFailed
from scheduled_sends_cli.target import Target, deployed

STACK = "sends-staging"
BUS = "sends-staging-events"
SCANNER = "sends-staging-ExpiryScannerFunction-AbC123"


class FakeService:
    """The seven operations as far as the smoke check uses them; changes go on the bus as the pipe puts them."""

    def __init__(self, server: HTTPServer) -> None:
        self.status: dict[str, str] = {}
        self.fail: set[str] = set()  # operations answering 500
        self.seen: list[tuple[str, str, str | None]] = []
        self.without_events = False
        server.expect_request("/v3/mail/batch", method="POST").respond_with_handler(self.create)
        server.expect_request("/v3/user/scheduled_sends", method="POST").respond_with_handler(self.pause)
        server.expect_request("/v3/user/scheduled_sends", method="GET").respond_with_handler(self.listing)
        server.expect_request(re.compile(r"/v3/user/scheduled_sends/.+")).respond_with_handler(self.one)

    def _publish(self, detail_type: str, batch_id: str, previous: str, status: str) -> None:
        if self.without_events:
            return
        detail = {"batch_id": batch_id, "changed_by": "arn:aws:iam::123456789012:user/operator", "status": status}
        boto3.client("events").put_events(
            Entries=[
                {
                    "EventBusName": BUS,
                    "Source": "scheduled-sends",
                    "DetailType": detail_type,
                    "Detail": json.dumps({**detail, "previous_status": previous}),
                }
            ]
        )

    def _record(self, request: Request, name: str) -> Response | None:
        self.seen.append((request.method, request.path, request.headers.get("on-behalf-of")))
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256")
        return Response("{}", 500) if name in self.fail else None

    def create(self, request: Request) -> Response:
        batch_id = f"SG{secrets.token_hex(8)}"
        return self._record(request, "create") or Response(json.dumps({"batch_id": batch_id}), 201)

    def pause(self, request: Request) -> Response:
        body = json.loads(request.data)
        self.status[body["batch_id"]] = "pause"
        self._publish("Scheduled Send Paused", body["batch_id"], "none", "pause")
        return self._record(request, "pause") or Response(json.dumps(body), 201)

    def listing(self, request: Request) -> Response:
        rows = [{"batch_id": b, "status": s} for b, s in self.status.items()]
        return self._record(request, "list") or Response(json.dumps(rows), 200)

    def one(self, request: Request) -> Response:
        batch_id = request.path.rsplit("/", 1)[1]
        failed = self._record(request, request.method)
        if failed:
            return failed
        if request.method == "GET":
            return Response(json.dumps([{"batch_id": batch_id, "status": self.status[batch_id]}]), 200)
        if request.method == "PATCH":
            self._publish("Scheduled Send Status Changed", batch_id, self.status[batch_id], "cancel")
            self.status[batch_id] = "cancel"
            return Response("", 204)
        self._publish("Scheduled Send Resumed", batch_id, self.status.pop(batch_id), "none")
        return Response("", 204)


@pytest.fixture
def stack(aws: None, httpserver: HTTPServer) -> tuple[Target, FakeService]:
    service = FakeService(httpserver)
    boto3.client("events").create_event_bus(Name=BUS)
    role = boto3.client("iam").create_role(RoleName="scanner", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    template = {
        "Resources": {
            "ExpiryScannerFunction": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": SCANNER,
                    "Runtime": "python3.13",
                    "Handler": "app.lambda_handler",
                    "Role": role,
                    "Code": {"ZipFile": "def lambda_handler(event, context): pass"},
                },
            }
        },
        "Outputs": {
            "ApiUrl": {"Value": httpserver.url_for("/").rstrip("/")},
            "EventBusName": {"Value": BUS},
        },
    }
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    return deployed(STACK, boto3.session.Session(region_name="us-east-1")), service


def _scanner_ran(invocations: float, errors: float = 0, minutes_ago: int = 4) -> None:
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    dimensions = [{"Name": "FunctionName", "Value": SCANNER}]
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": when, "Value": invocations},
            {"MetricName": "Errors", "Dimensions": dimensions, "Timestamp": when, "Value": errors},
        ],
    )


def _left_over() -> dict[str, Any]:
    return {
        "rules": [r["Name"] for r in boto3.client("events").list_rules(EventBusName=BUS)["Rules"]],
        "queues": boto3.client("sqs").list_queues().get("QueueUrls", []),
    }


def _run(target: Target, **options: Any) -> smoke.SmokeRun:
    settled: list[float] = []
    watch = AwsBusWatch(target, sleep=settled.append)
    run = smoke.smoke(
        target.api,
        watch,
        lambda: scanner_check.check_aws(target, 15 * 60),
        options.pop("on_behalf_of", None),
        stderr=io.StringIO(),
        **options,
    )
    assert settled == [5]  # it waits once for the new rule to take effect, never in a loop
    return run


def test_smoke_against_a_stack_sees_the_events_and_removes_its_subscription(stack) -> None:
    target, service = stack
    _scanner_ran(invocations=1)
    run = _run(target, on_behalf_of="acme")
    assert run.ok, run.as_json()
    steps = {s.name: s for s in run.steps}
    assert steps["change events on the bus"].detail == "3 change events, by arn:aws:iam::123456789012:user/operator"
    assert "1 run(s), 0 failed, in the last 15 min" in steps["scanner ran recently"].detail
    assert (
        steps["subscribe to the bus"].detail.startswith("rule scheduled-sends-smoke-")
        and BUS in steps["subscribe to the bus"].detail
    )
    assert {on_behalf_of for _, _, on_behalf_of in service.seen} == {"acme"}
    assert service.status == {}  # resumed
    assert _left_over() == {"rules": [], "queues": []}


def test_the_subscription_admits_only_its_rule_and_matches_only_its_batch(stack) -> None:
    target, _ = stack
    watch = AwsBusWatch(target, sleep=lambda seconds: None)
    watch.open("SG-ours")
    try:
        (rule,) = boto3.client("events").list_rules(EventBusName=BUS)["Rules"]
        assert json.loads(rule["EventPattern"]) == {"source": ["scheduled-sends"], "detail": {"batch_id": ["SG-ours"]}}
        (queue,) = boto3.client("sqs").list_queues()["QueueUrls"]
        policy = json.loads(
            boto3.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["Policy"])["Attributes"]["Policy"]
        )
        (statement,) = policy["Statement"]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}
        for batch_id in ("SG-other", "SG-ours"):
            boto3.client("events").put_events(
                Entries=[
                    {
                        "EventBusName": BUS,
                        "Source": "scheduled-sends",
                        "DetailType": "Scheduled Send Paused",
                        "Detail": json.dumps({"batch_id": batch_id}),
                    }
                ]
            )
        assert [e["detail"]["batch_id"] for e in watch.poll(0)] == ["SG-ours"]
    finally:
        assert watch.close() == []
    assert _left_over() == {"rules": [], "queues": []}


def test_a_failed_step_stops_the_check_but_the_batch_is_resumed_and_the_subscription_removed(stack) -> None:
    target, service = stack
    service.fail = {"GET"}
    run = _run(target)
    assert not run.ok
    results = {s.name: s.ok for s in run.steps}
    assert results["read"] is False
    assert results["list"] is None and results["scanner ran recently"] is None  # not run
    assert results["clean-up: resume the smoke batch"] is True
    assert results["remove the subscription"] is True
    assert service.status == {}
    assert _left_over() == {"rules": [], "queues": []}


def test_missing_events_fail_after_the_timeout(stack) -> None:
    target, service = stack
    service.without_events = True
    _scanner_ran(invocations=1)
    run = _run(target, events_timeout=0)
    step = next(s for s in run.steps if s.name == "change events on the bus")
    assert step.ok is False and "Scheduled Send Paused" in step.detail
    assert _left_over() == {"rules": [], "queues": []}


def test_the_scanner_check_reads_the_functions_invocations_and_errors(stack) -> None:
    target, _ = stack
    with pytest.raises(CommandFailed, match="was not invoked in the last 15 min"):
        scanner_check.check_aws(target, 15 * 60)
    _scanner_ran(invocations=2, errors=2)
    with pytest.raises(CommandFailed, match="ran 2 time"):
        scanner_check.check_aws(target, 15 * 60)
    _scanner_ran(invocations=1, errors=0, minutes_ago=2)
    assert scanner_check.check_aws(target, 15 * 60).startswith(f"{SCANNER}: 3 run(s), 2 failed")
