"""The log formatter's own `_extract_log_keys` answers exactly what Powertools' answers (or raises what it
raises), keys in the same order, for any record: it only looks its reserved names up in a set."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.logging.formatter import RESERVED_LOG_ATTRS, LambdaPowertoolsFormatter
from hypothesis import example, given
from hypothesis import strategies as st

from scheduled_sends.runtime.observability import _RedactingFormatter

names = st.one_of(st.sampled_from([*RESERVED_LOG_ATTRS, "service", "message", "xray_trace_id"]), st.text(max_size=8))
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.sampled_from(["%(levelname)s", "%(funcName)s:%(lineno)d", "%(asctime)s", "%(module)s"]),
    st.lists(st.integers(), max_size=2),
)


@contextlib.contextmanager
def a_formatter() -> Iterator[_RedactingFormatter]:
    """A new formatter; the thread's keys (shared by every formatter) cleared before and after."""
    formatter = _RedactingFormatter()
    formatter.thread_safe_clear_keys()
    try:
        yield formatter
    finally:
        formatter.thread_safe_clear_keys()


def _answer(extract: Any, formatter: LambdaPowertoolsFormatter, record: logging.LogRecord) -> Any:
    try:
        keys = extract(formatter, record)
    except Exception as error:  # what is raised is compared too
        return type(error), str(error)
    return list(keys.items())  # the order is the line's order


@given(
    appended=st.dictionaries(names, values, max_size=4),
    thread_keys=st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=3),
    extra=st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=4),
)
@example(appended={"location": "%(module)s"}, thread_keys={}, extra={})  # a reserved key with its own format
@example(appended={"timestamp": 5}, thread_keys={}, extra={})  # Powertools refuses a non-text format
@example(appended={}, thread_keys={"level": "%(levelno)s"}, extra={"batch_id": "b"})
def test_the_line_keys_are_powertools_own(
    appended: dict[str, Any], thread_keys: dict[str, Any], extra: dict[str, Any]
) -> None:
    record = logging.LogRecord("service", logging.INFO, "/var/task/app.py", 7, "request answered", None, None, "f")
    for key, value in extra.items():
        record.__dict__[key] = value
    with a_formatter() as formatter:
        formatter.append_keys(**appended)
        formatter.thread_safe_append_keys(**thread_keys)

        ours = _answer(_RedactingFormatter._extract_log_keys, formatter, record)

        assert ours == _answer(LambdaPowertoolsFormatter._extract_log_keys, formatter, record)
