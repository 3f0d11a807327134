"""The pure input rules."""

from __future__ import annotations

import pytest

from scheduled_sends.adapters.sendgrid.client import api_path
from scheduled_sends.domain import validation
from scheduled_sends.domain.errors import BadRequest


@pytest.mark.parametrize("value", ["a", "HkJ5yLYULb7Rj8GKSx7u025ouWVlMgAi", "a-b_c-9", "x" * 128])
def test_batch_ids_of_sendgrid_characters_are_accepted(value: str) -> None:
    assert validation.batch_id(value) == value


@pytest.mark.parametrize("value", ["", "x" * 129, "../x", "a/b", "a%2Fb", "a b", "a\n", "ä", None, 5, ["a"]])
def test_other_batch_ids_are_refused_naming_the_field(value) -> None:
    with pytest.raises(BadRequest) as refused:
        validation.batch_id(value)
    assert refused.value.field == "batch_id"


def test_only_cancel_and_pause_are_statuses() -> None:
    assert [validation.status(s) for s in ("cancel", "pause")] == ["cancel", "pause"]
    for value in ("resume", "Pause", "", None):
        with pytest.raises(BadRequest):
            validation.status(value)


def test_on_behalf_of_accepts_subusers_and_account_ids() -> None:
    assert validation.on_behalf_of([]) is None
    assert validation.on_behalf_of(["team-sub_1"]) == "team-sub_1"
    assert validation.on_behalf_of(["account-id 42"]) == "account-id 42"
    assert validation.on_behalf_of([" padded "]) == "padded"


@pytest.mark.parametrize(
    "values", [["a\r\nb"], ["a\x00"], ["a\x7f"], ["é"], ["x" * 257], [""], ["a", "b"], ["a,b"], ["a, b"]]
)
def test_on_behalf_of_refuses_control_characters_repeats_and_overlong(values: list[str]) -> None:
    with pytest.raises(BadRequest) as refused:
        validation.on_behalf_of(values)
    assert refused.value.field == "on-behalf-of"


def test_json_object_accepts_allowed_fields_and_empty_bodies() -> None:
    allowed = frozenset({"status"})
    assert validation.json_object('{"status": "pause"}', allowed) == {"status": "pause"}
    assert validation.json_object(None, frozenset()) == {}
    assert validation.json_object("", frozenset()) == {}
    with pytest.raises(BadRequest, match="not valid JSON"):  # whitespace alone is no body and no JSON
        validation.json_object("\n", frozenset())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"status": 1, "status": 2}', "duplicate key"),
        ('{"other": 1}', "unknown field"),
        ("{}", "status is required"),
        ('{"status": NaN}', "not valid JSON"),
        ('{"status": -Infinity}', "not valid JSON"),
    ],
)
def test_json_object_refusals_say_why(body: str, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        validation.json_object(body, frozenset({"status"}), required=frozenset({"status"}))
    assert message in refused.value.message


@pytest.mark.parametrize("segment", ["..", "a/b", "a%2F", "", "a?b", "a\r\n"])
def test_upstream_path_refuses_any_segment_that_could_change_the_url(segment: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        api_path("user", "scheduled_sends", segment)


def test_upstream_path_is_under_v3() -> None:
    assert api_path("user", "scheduled_sends", "abc-1") == "/v3/user/scheduled_sends/abc-1"


def test_deeply_nested_json_is_refused_not_crashed() -> None:
    with pytest.raises(BadRequest):
        validation.json_object("[" * 200_000 + "]" * 200_000, frozenset({"status"}))
