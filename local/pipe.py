"""The template's change-events pipe (AWS::Pipes::Pipe: the batches table's stream -> the bus), done locally.

moto does not run EventBridge Pipes, and nothing here pretends it does: the local runner and the tests read the
table's DynamoDB stream from moto (DescribeStream, GetShardIterator, GetRecords) and apply what template.yaml
says the pipe does - its filter patterns, its input template and its target parameters (static or `$.` paths) -
to each record, then put the result on the bus with PutEvents, as the pipe's role would. Only the parts of
EventBridge's pattern and template syntax that a pipe of this template may use are understood; anything else is
refused loudly (a test keeps the template within them), never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.config import Config

from .moto_atomic import forget_read_stream_records

PIPE_RESOURCE = "ChangeEventsPipe"
# botocore sends a stream ARN's calls to an account-specific host moto does not serve; the plain host works.
STREAMS_CLIENT_CONFIG = Config(account_id_endpoint_mode="disabled")
_MAX_ENTRIES_PER_PUT = 10  # PutEvents takes at most 10 entries


class UnsupportedPipe(ValueError):
    """The template asks for pipe syntax this local stand-in does not implement."""


class TemplateProblem(ValueError):
    """A record the filter passed lacks a path the input template names (the pipe would fail on it in AWS)."""


# -- event patterns (the filter) -----------------------------------------------------------------------------
def _matches_value(condition: Any, value: Any, present: bool) -> bool:
    if isinstance(condition, dict):
        ((operator, argument),) = condition.items()
        if operator == "exists":
            return present is bool(argument)
        if not present:
            return False
        if operator == "prefix":
            return isinstance(value, str) and value.startswith(argument)
        if operator == "anything-but":
            excluded = argument if isinstance(argument, list) else [argument]
            return value not in excluded
        raise UnsupportedPipe(f"event pattern operator {operator!r} is not supported locally")
    return present and value == condition


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether `event` matches an EventBridge event pattern: every key of the pattern must match; a list holds the
    values (or `exists`, `prefix`, `anything-but` conditions) one of which the event's value must match, an object
    goes one level down. An event's array matches when one of its elements does."""
    if not isinstance(event, dict):
        return False
    for key, wanted in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(wanted, dict):
            if not present or not matches(wanted, value):
                return False
        elif isinstance(wanted, list):
            values = value if isinstance(value, list) else [value]
            if not any(_matches_value(c, v, present) for c in wanted for v in values):
                return False
        else:
            raise UnsupportedPipe(f"event pattern value for {key!r} must be a list or an object")
    return True


# -- JSON paths and the input template ----------------------------------------------------------------------
_PATH = re.compile(r"\$((?:\.[A-Za-z0-9_-]+)+)")
_PLACEHOLDER = re.compile(r'("?)<([^<>]+)>("?)')


def at_path(document: Any, path: str) -> Any:
    """The value at a dot-notation JSON path (`$.a.b`); TemplateProblem when it is not there."""
    found = _PATH.fullmatch(path)
    if not found:
        raise UnsupportedPipe(f"JSON path {path!r} is not supported locally (dot notation only)")
    value = document
    for name in found.group(1)[1:].split("."):
        if not isinstance(value, dict) or name not in value:
            raise TemplateProblem(f"the record has nothing at {path}")
        value = value[name]
    return value


def render(template: str, document: Any) -> Any:
    """An input template applied to a document: `"<$.path>"` becomes the value as a JSON string, `<$.path>` the
    value as JSON; the result must be JSON (it is the event's detail)."""

    def substitute(found: re.Match[str]) -> str:
        opening, path, closing = found.groups()
        if path.startswith("aws.pipes."):
            raise UnsupportedPipe(f"reserved variable <{path}> is not supported locally")
        value = at_path(document, path)
        if opening and closing:  # a string: the value's text, escaped
            return json.dumps(value if isinstance(value, str) else json.dumps(value))
        if opening or closing:
            raise UnsupportedPipe(f"<{path}> inside a longer string is not supported locally")
        return json.dumps(value)

    return json.loads(_PLACEHOLDER.sub(substitute, template))


def _parameter(value: str, document: Any) -> Any:
    """A target parameter: a static value, or a `$.` path into the record (a dynamic path parameter)."""
    return at_path(document, value) if value.startswith("$.") else value


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- the pipe ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamPipe:
    """What the template's pipe does to one stream record."""

    patterns: tuple[dict[str, Any], ...]
    input_template: str
    source: str
    detail_type: str
    time: str | None = None

    @classmethod
    def from_template(cls, template: dict[str, Any], name: str = PIPE_RESOURCE) -> StreamPipe:
        properties = template["Resources"][name]["Properties"]
        if "Enrichment" in properties:
            raise UnsupportedPipe("a pipe with an enrichment step is not supported locally")
        filters = properties.get("SourceParameters", {}).get("FilterCriteria", {}).get("Filters", [])
        target = properties["TargetParameters"]
        bus = target["EventBridgeEventBusParameters"]
        return cls(
            patterns=tuple(json.loads(f["Pattern"]) for f in filters),
            input_template=target["InputTemplate"],
            source=bus["Source"],
            detail_type=bus["DetailType"],
            time=bus.get("Time"),
        )

    def passes(self, record: dict[str, Any]) -> bool:
        """The pipe's filter: a record goes on when any pattern matches it (every record without patterns)."""
        return not self.patterns or any(matches(pattern, record) for pattern in self.patterns)

    def entry(self, record: dict[str, Any], bus_name: str) -> dict[str, Any] | None:
        """The PutEvents entry the pipe makes of `record`, or None when its filter drops the record."""
        if not self.passes(record):
            return None
        entry = {
            "EventBusName": bus_name,
            "Source": _parameter(self.source, record),
            "DetailType": _parameter(self.detail_type, record),
            "Detail": json.dumps(render(self.input_template, record)),
        }
        if self.time:
            entry["Time"] = _time(_parameter(self.time, record))
        return entry


@dataclass
class StreamReader:
    """Reads a DynamoDB stream from where it last stopped (every shard from its oldest record at first): a fresh
    iterator after the last sequence number it read, on every read, as a Lambda event source mapping checkpoints.
    (An iterator kept across reads would also expire on AWS after 15 minutes; on moto it stays bound to a table a
    cancelled transaction has since replaced, and would never see another record.)"""

    streams: Any  # a boto3 dynamodbstreams client (STREAMS_CLIENT_CONFIG)
    stream_arn: str
    forget_read: bool = False  # the stream's one reader: moto may drop what it has read (`moto_atomic`)
    _last_read: dict[str, str] = field(default_factory=dict)  # shard id -> the last sequence number read

    def records(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"].get("Shards", [])
        for shard in shards:
            shard_id = shard["ShardId"]
            where: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
            if shard_id in self._last_read:
                where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._last_read[shard_id]}
            iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **where)[
                "ShardIterator"
            ]
            while iterator:
                answer = self.streams.get_records(ShardIterator=iterator)
                iterator = answer.get("NextShardIterator")
                records = answer.get("Records", [])
                if not records:
                    break
                found.extend(records)
                self._last_read[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
            if self.forget_read and shard_id in self._last_read:
                forget_read_stream_records(self.stream_arn, shard_id, self._last_read[shard_id])
        return found


@dataclass
class LocalPipe:
    """The pipe at work: new stream records in, their events on the bus (what `pump` returns)."""

    pipe: StreamPipe
    reader: StreamReader
    events: Any  # a boto3 events client
    bus_name: str

    def pump(self) -> list[dict[str, Any]]:
        entries = [e for e in (self.pipe.entry(r, self.bus_name) for r in self.reader.records()) if e is not None]
        for batch in _chunks(entries, _MAX_ENTRIES_PER_PUT):
            answer = self.events.put_events(Entries=batch)
            if answer.get("FailedEntryCount"):
                raise RuntimeError(f"the bus refused change events: {answer['Entries']}")
        return entries


def _chunks(items: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def table_pipe(
    template: dict[str, Any], dynamodb: Any, streams: Any, events: Any, table_name: str, bus_name: str
) -> LocalPipe:
    """The template's change-events pipe on a table of moto (`dynamodb`, `streams` and `events` are its clients)."""
    stream_arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    reader = StreamReader(streams, stream_arn, forget_read=True)
    return LocalPipe(StreamPipe.from_template(template), reader, events, bus_name)
