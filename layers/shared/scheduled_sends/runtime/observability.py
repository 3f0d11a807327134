"""Powertools Logger, Tracer and Metrics, created once per container and shared by every module.

Service name, namespace and log level come from the POWERTOOLS_* variables the template sets. Every log
record passes a redaction filter first: an `Authorization` value, a Bearer token, a SendGrid key (SG.…)
or a team token (sst_…) never reaches a log line, whatever a caller or a library put there.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.models import http

REDACTED = "[REDACTED]"
_SECRETS = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+|SG\.[A-Za-z0-9_\-.]{6,}|sst_[0-9a-f]{16}_[A-Za-z0-9_-]{8,}")
_SECRET_KEYS = {"authorization", "api_key", "apikey", "sendgrid_api_key", "secret"}
_CONTAINERS = (dict, list, tuple)  # what `_redact_keys` looks into
# Attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """`text` with every Bearer token and SendGrid key replaced."""
    lowered = text.lower()
    # What every match of _SECRETS contains (it is case-insensitive throughout): text without any of them is
    # returned as it is, without running the expression (most log lines, on every request).
    if "bearer" not in lowered and "sg." not in lowered and "sst_" not in lowered:
        return text
    return _SECRETS.sub(lambda m: (m.group(1) or "") + REDACTED, text)


def _redact_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in _SECRET_KEYS else _redact_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_keys(v) for v in value)
    return value


class _RedactSecretKeys(logging.Filter):
    """Before any handler sees a record (ours, Lambda's, a test's): the message, its arguments and the
    exception text lose Bearer tokens and keys, and `extra` fields named like a secret lose their value."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):  # Powertools also logs dicts as JSON: those are left as they are
            record.msg = redact(record.getMessage())
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        attributes = vars(record)
        for key in attributes.keys() - _RECORD_ATTRIBUTES:  # the `extra` fields
            value = attributes[key]
            if key.lower() in _SECRET_KEYS:
                setattr(record, key, REDACTED)
            elif isinstance(value, _CONTAINERS):
                setattr(record, key, _redact_keys(value))
        return True


def encodable(text: str) -> str:
    """`text` as it can be written to a UTF-8 stream: a lone surrogate (valid in a JSON string a caller sent,
    not in UTF-8) becomes its escape `\\udXXX`, which is the same character again once a JSON line is read."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


class _RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON line, through its documented extension point (`serialize`): the final line, exceptions
    and stack traces included, without Bearer tokens or SendGrid keys, and always writable: caller data never
    makes a line fail to encode or format (the line would be lost)."""

    def serialize(self, log: LogRecord) -> str:
        return encodable(redact(super().serialize(log)))

    def format(self, record: logging.LogRecord) -> str:
        try:
            return super().format(record)
        except Exception as problem:  # a line of ours must never be lost to what a caller sent
            line = json.dumps(
                {"level": record.levelname, "message": str(record.msg), "log_format_error": repr(problem)}
            )
            return encodable(redact(line))


logger = Logger(logger_formatter=_RedactingFormatter())
logger.addFilter(_RedactSecretKeys())
# X-Ray patches only botocore (DynamoDB, Secrets Manager, EventBridge); the SendGrid adapter records its own
# calls (`traced_http_call`). Patching every library the SDK knows imports some (sqlite3) and looks for the rest.
TRACED_MODULES = ("botocore",)
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()


def traced_http_call(host: str, method: str, url: str, send: Callable[[], Any]) -> Any:
    """`send()`, the HTTP call of `method` `url`, recorded as an X-Ray "remote" subsegment named after the
    `host` with the method, the URL without its query and the answer's status (as X-Ray's own `requests` patch
    records them, no header: the key stays out of traces). A plain call when tracing is off (tests, `make run`,
    the bench)."""
    if not global_sdk_config.sdk_enabled():
        return send()
    with xray_recorder.in_subsegment(host, namespace="remote") as subsegment:
        if subsegment is not None:
            subsegment.put_http_meta(http.METHOD, method)
            subsegment.put_http_meta(http.URL, url.partition("?")[0])  # as X-Ray's own patches: no query
        answer = send()
        if subsegment is not None:
            subsegment.put_http_meta(http.STATUS, answer.status)
        return answer


_Wrapped = TypeVar("_Wrapped", bound=Callable[..., Any])


def flushing_metrics(handler: _Wrapped) -> _Wrapped:
    """Powertools' `log_metrics`: the invocation's metrics flushed (one EMF line) when it ends, whatever happened.
    Without its flush of nothing: most invocations add no metric, and that flush raises a warning each time."""

    @functools.wraps(handler)
    def flushing(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()

    return flushing  # type: ignore[return-value]
