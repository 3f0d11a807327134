"""A log line is Powertools' structured JSON line, as its documentation describes it: the standard keys, the
message as text (a JSON message as its value), `extra` fields as keys of their own, and the timestamp in
Powertools' default format."""

from __future__ import annotations

import io
import json
import re

from scheduled_sends.runtime.observability import logger


def _lines(json_logs: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in json_logs.getvalue().splitlines()]


def test_a_line_has_powertools_standard_keys_and_the_extra_fields(json_logs: io.StringIO) -> None:
    logger.info("request answered", extra={"batch_id": "b-1", "status_code": 204})

    (line,) = _lines(json_logs)
    assert list(line)[:4] == ["level", "location", "message", "timestamp"]  # Powertools' default order
    assert line["level"] == "INFO" and line["message"] == "request answered"
    assert line["service"] == "scheduled-sends"
    assert re.fullmatch(r"test_a_line_has_powertools_standard_keys_and_the_extra_fields:\d+", line["location"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}[+-]\d{4}", line["timestamp"])
    assert line["batch_id"] == "b-1" and line["status_code"] == 204


def test_a_json_message_is_logged_as_its_value_and_a_plain_one_as_text(json_logs: io.StringIO) -> None:
    logger.info('{"refused": "sendgrid-limit"}')
    logger.info("[not json")
    logger.info({"slots": 10})

    messages = [line["message"] for line in _lines(json_logs)]
    assert messages == [{"refused": "sendgrid-limit"}, "[not json", {"slots": 10}]


def test_appended_keys_are_on_every_line_until_removed(json_logs: io.StringIO) -> None:
    logger.append_keys(correlation_id="req-1")
    try:
        logger.info("first")
        logger.info("second")
    finally:
        logger.remove_keys(["correlation_id"])
    logger.info("third")

    assert [line.get("correlation_id") for line in _lines(json_logs)] == ["req-1", "req-1", None]
