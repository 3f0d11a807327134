"""The log formatter's own timestamp and serializer write exactly what Powertools' would, for any record and
any line: they only do once what Powertools does for every line (the date and offset of a second, the encoder)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from hypothesis import example, given
from hypothesis import strategies as st

from scheduled_sends.runtime.observability import _RedactingFormatter

# From 2001 to 2100, with sub-second parts; each list is one formatter's successive lines.
moments = st.floats(min_value=978_307_200, max_value=4_102_444_800, allow_nan=False, allow_infinity=False)
DST_CHANGE = 1_711_846_800.0  # 2024-03-31 01:00:00 UTC: Europe/Paris moves from +0100 to +0200


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("service", logging.INFO, "/var/task/app.py", 7, "request answered", None, None)
    record.created, record.msecs = created, (created - int(created)) * 1000  # as LogRecord sets them
    return record


@contextlib.contextmanager
def time_zone(zone: str) -> Iterator[None]:
    """Lambda runs in UTC; a local run may not (the offset is part of the timestamp)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


@given(
    zone=st.sampled_from(["UTC", "Europe/Paris", "America/St_Johns"]), created=st.lists(moments, min_size=1, max_size=6)
)
@example(zone="Europe/Paris", created=[DST_CHANGE - 0.001, DST_CHANGE, DST_CHANGE + 0.999, DST_CHANGE - 1])
@example(zone="UTC", created=[1_700_000_000.9995, 1_700_000_000.0, 1_700_000_001.0])
def test_the_timestamp_is_powertools_own(zone: str, created: list[float]) -> None:
    ours, theirs = _RedactingFormatter(), LambdaPowertoolsFormatter()
    with time_zone(zone):
        for moment in created:  # one formatter for all: the second it remembered must never leak into another
            assert ours.formatTime(_record(moment)) == theirs.formatTime(_record(moment))


def test_a_date_format_of_ones_own_is_powertools_own() -> None:
    record = _record(1_700_000_000.25)
    for options in ({"datefmt": "%H:%M:%S.%F"}, {"use_rfc3339": True}, {"utc": True}):
        assert _RedactingFormatter(**options).formatTime(record) == LambdaPowertoolsFormatter(**options).formatTime(
            record
        )


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.sets(st.integers(), max_size=2)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@given(line=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
@example(line={"message": "caf\u00e9 \ud800", "nan": float("nan"), "ids": {3}})
def test_the_line_is_serialized_as_powertools_does(line: dict[str, Any]) -> None:
    assert _RedactingFormatter().serialize(line) == LambdaPowertoolsFormatter().serialize(line)
