"""What the local runner prints, without the secrets a caller or a library may have put in it."""

from __future__ import annotations

import string
from urllib.parse import quote, unquote

# In a logged path, visible ASCII stays as sent (percent signs too: escapes are kept); the rest is escaped.
_VISIBLE = string.punctuation


def redact(text: str) -> str:
    """`text` with every Bearer token, SendGrid key and team token replaced: the layer's own log redaction, so a
    secret format added there is redacted here too (imported on use: the layer is on the path from start())."""
    from scheduled_sends.runtime.observability import redact as redact_as_the_layer_does

    return redact_as_the_layer_does(text)


def request_label(method: str, raw_path: str) -> str:
    """`METHOD /path` for a log line: a secret in the path redacted, also one hidden by percent-encoding;
    the query string cut to `?...` (its values are the caller's: a token there is as secret as in a header);
    and no control character of the caller's left to reach a terminal."""
    path, question, _ = raw_path.partition("?")
    decoded = unquote(path)
    redacted = redact(decoded)
    if redacted != decoded:
        path = redacted
    return f"{quote(method, safe=_VISIBLE)} {quote(path, safe=_VISIBLE)}{'?...' if question else ''}"


def caller_label(caller: str) -> str:
    """Who called, short, for a log line: an IAM ARN's resource (`user/alice`, `assumed-role/Ops/alice`), or the
    team; like a path, without a control character or a secret of the caller's."""
    if caller.startswith("arn:") and caller.count(":") >= 5:
        caller = caller.split(":", 5)[5]
    return quote(redact(caller), safe=_VISIBLE + " ")
