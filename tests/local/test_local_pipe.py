"""local.pipe: the template's change-events pipe applied to moto's DynamoDB stream records, and only the parts of
EventBridge's pattern and template syntax it understands."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pytest

from local.pipe import (
    STREAMS_CLIENT_CONFIG,
    StreamPipe,
    StreamReader,
    TemplateProblem,
    UnsupportedPipe,
    matches,
    render,
)
from local.template import load_template
from scheduled_sends.adapters.batches_table import batch_store
from scheduled_sends.domain import changes
from scheduled_sends.domain.batch import Batch
from scheduled_sends.domain.changes import Change

TEAM = "arn:aws:iam::111122223333:user/team-a"
NOW = 1_795_000_000


def test_patterns_match_as_eventbridge_does() -> None:
    record = {"eventName": "MODIFY", "dynamodb": {"NewImage": {"change_event": {"S": "x"}, "tags": ["a", "b"]}}}
    assert matches({"eventName": ["INSERT", "MODIFY"]}, record)
    assert not matches({"eventName": ["REMOVE"]}, record)
    assert matches({"dynamodb": {"NewImage": {"change_event": {"S": [{"exists": True}]}}}}, record)
    assert not matches({"dynamodb": {"NewImage": {"gone": {"S": [{"exists": True}]}}}}, record)
    assert matches({"dynamodb": {"NewImage": {"gone": [{"exists": False}]}}}, record)
    assert matches({"dynamodb": {"NewImage": {"tags": ["b"]}}}, record)  # an array matches by any element
    assert matches(
        {"eventName": [{"prefix": "MOD"}], "dynamodb": {"NewImage": {"tags": [{"anything-but": "z"}]}}}, record
    )
    assert not matches({"dynamodb": {"OldImage": {"x": ["y"]}}}, record)
    with pytest.raises(UnsupportedPipe):
        matches({"eventName": [{"numeric": [">", 1]}]}, record)


def test_templates_insert_strings_quoted_and_values_as_json() -> None:
    document = {"a": {"S": 'say "hi"'}, "n": {"N": "5"}, "list": [1, 2]}
    assert render('{"a": "<$.a.S>", "n": <$.n.N>, "l": <$.list>}', document) == {"a": 'say "hi"', "n": "5", "l": [1, 2]}
    with pytest.raises(TemplateProblem):
        render('{"x": "<$.missing.S>"}', document)
    with pytest.raises(UnsupportedPipe):
        render('{"x": "Hello, <$.a.S>"}', document)
    with pytest.raises(UnsupportedPipe):
        render('{"x": <aws.pipes.event.json>}', document)


def _records(aws: None) -> list[dict]:
    table = boto3.client("dynamodb").describe_table(TableName="batches")["Table"]
    streams = boto3.client("dynamodbstreams", config=STREAMS_CLIENT_CONFIG)
    return StreamReader(streams, table["LatestStreamArn"]).records()


def _change(status: str | None, previous: str | None) -> Change:
    detail_type = changes.detail_type(changes.PAUSE_OR_CANCEL if status else changes.RESUME, status)
    return Change("e-" + str(status), detail_type, TEAM, TEAM, "r-1", NOW, previous, status, TEAM, None, "global")


def test_the_template_pipe_passes_each_write_that_records_a_change_once_and_nothing_else(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDGRID_API_BASE_URL", "http://127.0.0.1:9")  # settings ask for it; nothing calls it
    monkeypatch.setenv("SENDGRID_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:unused")
    store = batch_store()
    pipe = StreamPipe.from_template(load_template())

    def write(edit):
        return store.change("parent", "b1", edit, NOW)

    write(lambda _: Batch("parent", "b1", TEAM))  # created: no change
    paused = write(lambda row: replace(row.with_status("pause", NOW), change=_change("pause", None)))
    leased = store.take_lease(paused, "run-1", NOW, NOW + 600)  # the scanner's lease
    write(lambda row: replace(row, warned=(86400,), lease_owner=None, lease_until=None))  # the scanner's warning
    write(lambda row: replace(row.with_status(None, NOW), change=_change(None, "pause")))  # resumed
    write(lambda row: replace(row, expiry_action="cancel"))  # any later write keeps the record, not the marker

    assert leased is not None
    records = _records(aws)
    entries = [pipe.entry(record, "bus") for record in records]
    assert len(records) >= 6  # every write (moto sometimes adds a keys-only INSERT before the first)
    published = [e for e in entries if e is not None]
    assert [e["DetailType"] for e in published] == [changes.PAUSED, changes.RESUMED]
    paused_detail, resumed_detail = (json.loads(e["Detail"]) for e in published)
    assert (paused_detail["previous_status"], paused_detail["status"]) == ("none", "pause")
    assert (resumed_detail["previous_status"], resumed_detail["status"]) == ("pause", "none")
    assert paused_detail["event_id"] == "e-pause" and paused_detail["on_behalf_of"] == ""
    assert published[0]["Source"] == "scheduled-sends"
    assert published[0]["Time"].timestamp() == NOW
    assert store.get("parent", "b1").change == _change(None, "pause")  # the row keeps its last change
