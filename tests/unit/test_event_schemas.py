"""The event schemas in schemas/events/ cover every detail-type the scanner publishes and are valid schemas."""

from __future__ import annotations

import jsonschema
import pytest

from scheduled_sends import bus
from tests.support import assert_matches_its_schema, event_schemas


def test_there_is_one_schema_per_published_detail_type() -> None:
    published = {bus.EXPIRY_WARNING, bus.EXPIRY_ACTION_TAKEN, bus.EXPIRED, bus.SLOT_RECLAIMED, bus.DRIFT}
    assert set(event_schemas()) == published
    for schema in event_schemas().values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_a_schema_refuses_an_event_that_lost_a_field() -> None:
    event = {
        "source": "scheduled-sends",
        "detail-type": bus.EXPIRED,
        "detail": {
            "account": "parent",
            "on_behalf_of": None,
            "batch_id": "abc",
            "owner": None,
            "status": "expired",
            "send_at": 1,
            "expires_at": 259201,
            "expiry_action": None,
        },
    }
    assert_matches_its_schema(event)
    del event["detail"]["expires_at"]
    with pytest.raises(jsonschema.ValidationError):
        assert_matches_its_schema(event)
