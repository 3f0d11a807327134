"""What the local stack's bus carries, seen from outside: a subscriber of every event, as a team's own would be.

An EventBridge rule on moto's bus sends every event (the scanner's, put by the function; the changes', put by
`local.pipe` from the table's stream) to an SQS queue, and `EventTap.drain` reads it: each event is kept for
`GET /_local/events`, printed as one line, and - with LOCAL_EVENTS_URL - POSTed as EventBridge delivers it to a
target (the envelope: version, id, detail-type, source, account, time, region, resources, detail).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

ENVELOPE = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
KEPT_EVENTS = 1000  # the most recent events GET /_local/events can show
FORWARD_TIMEOUT_SECONDS = 5


class BadFilter(ValueError):
    """A GET /_local/events filter that cannot be read."""


def _seconds(time_text: str) -> float:
    return datetime.fromisoformat(time_text.replace("Z", "+00:00")).timestamp()


def since_seconds(value: str) -> float:
    """`since` as unix seconds: a number of seconds, or an ISO 8601 time (e.g. 2026-11-23T10:00:00Z)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(f"since must be unix seconds or an ISO 8601 time, not {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def describe(event: dict[str, Any]) -> str:
    """One line for the terminal: what happened, to which batch, by whom."""
    detail = event.get("detail") or {}
    actor = detail.get("changed_by") or "the expiry scanner"
    line = f"event: {event.get('detail-type')}  batch {detail.get('batch_id')}  by {actor}"
    if "previous_status" in detail:
        line += f"  ({detail['previous_status'] or NO_STATUS} -> {_status_after(detail.get('status'))})"
    return line


NO_STATUS = "none"  # how the change events spell "no pause or cancel" (scanner events: null)


def _status_after(status: str | None) -> str:
    """A status a batch moved to, as a person reads it: no pause or cancel left means it was resumed."""
    return "resumed" if status in (None, NO_STATUS) else status


class EventTap:
    """Every event of the bus, through a rule and a queue of moto (`attach` creates them)."""

    def __init__(
        self, sqs: Any, queue_url: str, log: Callable[[str], None], forward_url: str | None = None, account: str = ""
    ) -> None:
        self._sqs, self._queue_url, self._log = sqs, queue_url, log
        self.forward_url = forward_url
        self._account = account  # moto's queue delivery leaves the envelope's `account` out: put it back
        self._events: deque[dict[str, Any]] = deque(maxlen=KEPT_EVENTS)
        self._kept = 0  # how many events were ever kept: a mark that `kept_since` counts from
        self._lock = threading.Lock()

    @classmethod
    def attach(
        cls,
        sqs: Any,
        events: Any,
        bus_name: str,
        name: str,
        log: Callable[[str], None],
        forward_url: str | None = None,
        account: str = "",
    ) -> EventTap:
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
        events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{"Id": "local-tap", "Arn": queue_arn}])
        return cls(sqs, queue_url, log, forward_url, account)

    def drain(self) -> list[dict[str, Any]]:
        """Read every event waiting in the queue: keep, print and forward each; return them."""
        arrived: list[dict[str, Any]] = []
        while True:
            messages = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:
                body = {"account": self._account, **json.loads(message["Body"])}
                arrived.append({key: body[key] for key in ENVELOPE if key in body})
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        with self._lock:
            self._events.extend(arrived)
            self._kept += len(arrived)
        for event in arrived:
            self._log(describe(event))
            if self.forward_url:
                self._forward(self.forward_url, event)
        return arrived

    def mark(self) -> int:
        """Where the kept events stand now, for `kept_since`."""
        with self._lock:
            return self._kept

    def kept_since(self, mark: int) -> list[dict[str, Any]]:
        """Every event kept after `mark`, whoever drained it (the background collection or a request)."""
        with self._lock:
            count = min(self._kept - mark, len(self._events))
            return list(self._events)[len(self._events) - count :] if count > 0 else []

    def _forward(self, url: str, event: dict[str, Any]) -> None:
        try:
            answer = requests.post(url, json=event, timeout=FORWARD_TIMEOUT_SECONDS)
        except requests.RequestException as error:
            self._log(f"  LOCAL_EVENTS_URL: could not POST event {event['id']} to {url}: {error}")
            return
        if answer.status_code >= 300:
            self._log(f"  LOCAL_EVENTS_URL: {url} answered {answer.status_code} to event {event['id']}")

    def events(
        self, detail_type: str | None = None, batch_id: str | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        """The kept events, oldest first, of that detail-type, batch and time (`time` at or after `since`)."""
        with self._lock:
            kept = list(self._events)
        return [
            e
            for e in kept
            if (detail_type is None or e.get("detail-type") == detail_type)
            and (batch_id is None or (e.get("detail") or {}).get("batch_id") == batch_id)
            and (since is None or _seconds(e["time"]) >= since)
        ]
