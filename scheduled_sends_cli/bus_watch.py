"""A temporary subscription to one batch's events on the stack's bus, for the smoke check.

In AWS: an EventBridge rule on the stack's bus matching the batch id -> a temporary SQS queue whose policy lets
only that rule send; both deleted by `close`. Locally: the local server's bus tap (`GET /_local/events`)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

import urllib3

from .outcome import CommandFailed
from .target import Target

SOURCE = "scheduled-sends"  # the source of every event the stack publishes (the pipe's and the scanner's)


class BusWatch(Protocol):
    def open(self, batch_id: str) -> str: ...
    def poll(self, wait_seconds: float) -> list[dict[str, Any]]: ...
    def close(self) -> list[str]: ...


class AwsBusWatch:
    """An EventBridge rule and an SQS queue, made for one smoke run and deleted after it (`close`)."""

    def __init__(self, target: Target, sleep: Callable[[float], None] = time.sleep, settle_seconds: float = 5) -> None:
        self._events, self._sqs = target.client("events"), target.client("sqs")
        self._bus = target.outputs["EventBusName"]
        self._name = f"scheduled-sends-smoke-{secrets.token_hex(4)}"
        self._sleep, self._settle_seconds = sleep, settle_seconds
        self._rule_made = self._target_made = False
        self._queue_url: str | None = None
        self._seen: list[dict[str, Any]] = []

    def open(self, batch_id: str) -> str:
        pattern = {"source": [SOURCE], "detail": {"batch_id": [batch_id]}}
        rule_arn = self._events.put_rule(
            Name=self._name,
            EventBusName=self._bus,
            EventPattern=json.dumps(pattern),
            State="ENABLED",
            Description="scheduled-sends smoke check (temporary; deleted when the check ends)",
        )["RuleArn"]
        self._rule_made = True
        self._queue_url = self._sqs.create_queue(
            QueueName=self._name, Attributes={"MessageRetentionPeriod": "900", "SqsManagedSseEnabled": "true"}
        )["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
        self._sqs.set_queue_attributes(QueueUrl=self._queue_url, Attributes={"Policy": json.dumps(policy)})
        self._events.put_targets(Rule=self._name, EventBusName=self._bus, Targets=[{"Id": "smoke", "Arn": queue_arn}])
        self._target_made = True
        # A new rule matches events a few seconds after it is made (EventBridge is eventually consistent).
        if self._settle_seconds:
            self._sleep(self._settle_seconds)
        return f"rule {self._name} on bus {self._bus} -> queue {self._name}"

    def poll(self, wait_seconds: float) -> list[dict[str, Any]]:
        assert self._queue_url is not None
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=int(min(max(wait_seconds, 0), 20))
        )
        for message in answer.get("Messages", []):
            self._seen.append(json.loads(message["Body"]))
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return list(self._seen)

    def close(self) -> list[str]:
        """Deletes what `open` made; returns what could not be deleted (each with the error)."""
        left: list[str] = []
        steps: list[tuple[bool, str, Callable[[], Any]]] = [
            (
                self._target_made,
                f"target of rule {self._name}",
                lambda: self._events.remove_targets(Rule=self._name, EventBusName=self._bus, Ids=["smoke"]),
            ),
            (
                self._rule_made,
                f"rule {self._name} on bus {self._bus}",
                lambda: self._events.delete_rule(Name=self._name, EventBusName=self._bus),
            ),
            (
                self._queue_url is not None,
                f"queue {self._queue_url}",
                lambda: self._sqs.delete_queue(QueueUrl=self._queue_url),
            ),
        ]
        for made, what, delete in steps:
            if not made:
                continue
            try:
                delete()
            except Exception as error:
                left.append(f"{what}: {error}")
        self._rule_made = self._target_made = False
        self._queue_url = None
        return left


class LocalBusWatch:
    """The local server's bus tap: every event the local bus carried, filtered by batch id."""

    def __init__(self, target: Target, pool: urllib3.PoolManager | None = None) -> None:
        assert target.local_url is not None
        self._url = target.local_url
        self._pool = pool or urllib3.PoolManager(retries=False, timeout=10)
        self._batch_id: str | None = None

    def open(self, batch_id: str) -> str:
        self._batch_id = batch_id
        return f"the local bus tap ({self._url}/_local/events)"

    def poll(self, wait_seconds: float) -> list[dict[str, Any]]:
        assert self._batch_id is not None, "open() first"
        answer = self._pool.request("GET", f"{self._url}/_local/events", fields={"batch_id": self._batch_id})
        if answer.status != 200:
            raise CommandFailed(f"/_local/events answered {answer.status}")
        return json.loads(answer.data)

    def close(self) -> list[str]:
        return []  # the tap belongs to the local server: nothing was made
