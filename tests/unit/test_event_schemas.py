"""The event schemas in schemas/events/ cover every detail-type on the bus (the scanner's and the changes made
through the API) and are valid schemas; the change-events pipe's input template makes exactly their fields."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from local.pipe import StreamPipe
from local.template import load_template, parse
from scheduled_sends.adapters import event_bus as bus
from tests.support import ROOT, assert_matches_its_schema, event_schemas

SCANNER_EVENTS = {
    bus.EXPIRY_WARNING,
    bus.EXPIRY_ACTION_TAKEN,
    bus.EXPIRED,
    bus.SLOT_RECLAIMED,
    bus.SLOT_RECLAIMABLE,
    bus.DRIFT,
}
CHANGE_EVENTS = {bus.PAUSED, bus.CANCELLED, bus.STATUS_CHANGED, bus.RESUMED}


def test_there_is_one_schema_per_published_detail_type() -> None:
    assert set(event_schemas()) == SCANNER_EVENTS | CHANGE_EVENTS
    for schema in event_schemas().values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_a_schema_refuses_an_event_that_lost_a_field() -> None:
    event = {
        "source": "scheduled-sends",
        "detail-type": bus.EXPIRED,
        "detail": {
            "account": "parent",
            "on_behalf_of": "",
            "region": "global",
            "batch_id": "abc",
            "owner": None,
            "status": "expired",
            "send_at": 1,
            "last_send_at": 1,
            "expires_at": 259201,
            "expires_at_basis": "send_at",
            "expiry_action": None,
            "event_id": "7f0b4a5e-8a43-5c1e-9d1e-2f4b6c8d0a12",
            "send_at_iso": "1970-01-01T00:00:01Z",
            "last_send_at_iso": "1970-01-01T00:00:01Z",
            "expires_at_iso": "1970-01-04T00:00:01Z",
        },
    }
    assert_matches_its_schema(event)
    for lost in ("expires_at", "expires_at_iso"):
        incomplete = {**event, "detail": {k: v for k, v in event["detail"].items() if k != lost}}
        with pytest.raises(jsonschema.ValidationError):
            assert_matches_its_schema(incomplete)


@pytest.mark.parametrize("detail_type", sorted(SCANNER_EVENTS))
def test_every_scanner_event_gives_each_time_also_in_iso_8601(detail_type: str) -> None:
    detail = event_schemas()[detail_type]["properties"]["detail"]
    for name in ("send_at", "last_send_at", "expires_at"):
        assert {name, f"{name}_iso"} <= set(detail["required"])
        assert detail["properties"][f"{name}_iso"]["format"] == "date-time"


@pytest.mark.parametrize("detail_type", sorted(event_schemas()))
def test_every_event_says_which_region_holds_the_accounts_data(detail_type: str) -> None:
    detail = event_schemas()[detail_type]["properties"]["detail"]
    assert "region" in detail["required"]
    # A change was just made at its region's host, so it always knows; the scanner may not know at that moment.
    known = ["global", "eu"] if detail_type in CHANGE_EVENTS else ["global", "eu", None]
    assert detail["properties"]["region"]["enum"] == known


@pytest.mark.parametrize("detail_type", sorted(CHANGE_EVENTS))
def test_the_pipes_input_template_makes_exactly_the_fields_of_each_change_event(detail_type: str) -> None:
    pipe = StreamPipe.from_template(load_template())
    fields = set(json.loads(re.sub(r"<[^<>]+>", "x", pipe.input_template)))
    detail = event_schemas()[detail_type]["properties"]["detail"]
    assert fields == set(detail["required"]) == set(detail["properties"])
    assert not detail["additionalProperties"]
    assert pipe.source == "scheduled-sends"


def test_a_change_event_has_no_null_the_pipe_could_not_write() -> None:
    """An input template copies strings; "none" and "" say "nothing" in a change event, never null."""
    for detail_type in CHANGE_EVENTS:
        for name, field in event_schemas()[detail_type]["properties"]["detail"]["properties"].items():
            assert "null" not in json.dumps(field.get("type", "")) and None not in field.get("enum", []), name


def _example_rules() -> dict[str, dict]:
    """The example EventBridge rules the events page includes (docs/examples/team-rules.yaml), as CloudFormation."""
    return parse((ROOT / "docs" / "examples" / "team-rules.yaml").read_text())


def test_the_docs_have_an_example_rule_for_every_event_matching_its_schema() -> None:
    rules = _example_rules()
    schemas = event_schemas()
    covered = set()
    for name, rule in rules.items():
        assert rule["Type"] == "AWS::Events::Rule", name
        pattern = rule["Properties"]["EventPattern"]
        assert pattern["source"] == ["scheduled-sends"], name
        (detail_type,) = pattern["detail-type"]
        covered.add(detail_type)
        fields = schemas[detail_type]["properties"]["detail"]["properties"]
        assert set(pattern.get("detail", {})) <= set(fields), name  # it filters on fields the events carry
        assert rule["Properties"]["Targets"], name
    assert covered == set(schemas)


@pytest.mark.parametrize("detail_type", sorted(SCANNER_EVENTS))
def test_a_scanner_events_parent_account_is_empty_in_on_behalf_of_as_in_change_events(detail_type: str) -> None:
    field = event_schemas()[detail_type]["properties"]["detail"]["properties"]["on_behalf_of"]
    assert field["type"] == "string" and "'' for the parent account" in field["description"]
    for change in CHANGE_EVENTS:  # one form in every event
        assert event_schemas()[change]["properties"]["detail"]["properties"]["on_behalf_of"]["type"] == "string"
