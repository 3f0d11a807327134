"""The logger redacts secrets, and the suite's canary check would notice a leak."""

from __future__ import annotations

import io
import json
import logging

from scheduled_sends.domain import tokens
from scheduled_sends.runtime.observability import REDACTED, logger, redact
from tests.conftest import leaked
from tests.support import CANARY_KEY


def test_authorization_bearer_tokens_and_sendgrid_keys_never_reach_a_log_line(json_logs: io.StringIO) -> None:
    logger.info(
        f"calling with Bearer {CANARY_KEY}",
        extra={
            "Authorization": f"Bearer {CANARY_KEY}",
            "upstream": {"headers": {"authorization": "x"}},
            "note": f"key={CANARY_KEY}",
        },
    )
    try:
        raise RuntimeError(f"failed with {CANARY_KEY}")
    except RuntimeError:
        logger.exception("boom")

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert len(lines) == 2
    assert CANARY_KEY not in json_logs.getvalue()
    assert lines[0]["Authorization"] == REDACTED
    assert lines[0]["upstream"] == {"headers": {"authorization": REDACTED}}
    assert lines[0]["message"] == f"calling with Bearer {REDACTED}"
    assert REDACTED in lines[1]["exception"]


def test_team_tokens_are_redacted_even_without_bearer() -> None:
    token, record = tokens.new_token("payments", [], now=0)
    assert redact(f"token {token} for payments") == f"token {REDACTED} for payments"
    assert redact(f"token id {record.token_id}") == f"token id {record.token_id}"  # the id alone is not secret


def test_redact_keeps_everything_else() -> None:
    assert (
        redact("batch HkJ5yLYULb7 paused by arn:aws:iam::1:user/a")
        == "batch HkJ5yLYULb7 paused by arn:aws:iam::1:user/a"
    )
    assert redact(f"x {CANARY_KEY} y") == f"x {REDACTED} y"


def test_the_canary_check_finds_a_leak_anywhere_in_the_collected_texts() -> None:
    assert leaked(["", json.dumps({"body": f"oops {CANARY_KEY}"})])
    assert not leaked(["nothing here", REDACTED])
    assert logging.getLogger("scheduled-sends").filters  # the redaction filter is installed


def test_a_line_with_caller_data_that_utf8_cannot_hold_is_still_written(json_logs: io.StringIO) -> None:
    logger.info("request refused", extra={"field": "\ud800", "key": "a\udcffb"})

    (line,) = json_logs.getvalue().splitlines()
    assert "\\ud800" in line and "\\udcff" in line  # escaped, so the line encodes
    assert json.loads(line)["field"] == "\ud800"  # and reads back as what the caller sent


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_a_line_that_cannot_be_formatted_is_replaced_not_lost(json_logs: io.StringIO) -> None:
    logger.info("request refused", extra={"field": _Unprintable()})

    (line,) = json_logs.getvalue().splitlines()
    document = json.loads(line)
    assert document["message"] == "request refused"
    assert "no text" in document["log_format_error"]


def test_redaction_is_case_insensitive_as_before_the_quick_check() -> None:
    for text in ("BEARER abc.def", "bearer\tabc", "sg.abcdefgh", "SG.ABCDEFGH.ij", "SST_0123456789ABCDEF_abcdefgh"):
        assert redact(f"x {text} y").count(REDACTED) == 1, text
    assert redact("no secret, just SG and sst and bear") == "no secret, just SG and sst and bear"
