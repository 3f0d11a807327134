"""What the local runner prints, without the secrets a caller or a library may have put in it."""

from __future__ import annotations

import re
import string
from urllib.parse import quote, unquote

REDACTED = "[REDACTED]"
# DUPLICATES scheduled_sends.observability._SECRETS (the layer's log redaction): a Bearer value, a SendGrid
# key (SG.…), a team token (sst_<16 hex>_<secret>). Copied rather than imported because that module is about
# to move and local/ must not break with it. The risk of the copy: a token format added or changed there and
# not here is printed in clear by the local runner. Keep the two in step (or import it once it has settled).
_SECRETS = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+|SG\.[A-Za-z0-9_\-.]{6,}|sst_[0-9a-f]{16}_[A-Za-z0-9_-]{8,}")
# In a logged path, visible ASCII stays as sent (percent signs too: escapes are kept); the rest is escaped.
_VISIBLE = string.punctuation


def redact(text: str) -> str:
    """`text` with every Bearer token, SendGrid key and team token replaced."""
    return _SECRETS.sub(lambda m: (m.group(1) or "") + REDACTED, text)


def request_label(method: str, raw_path: str) -> str:
    """`METHOD /path` for a log line: a secret in the path redacted, also one hidden by percent-encoding;
    the query string cut to `?...` (its values are the caller's: a token there is as secret as in a header);
    and no control character of the caller's left to reach a terminal."""
    path, question, _ = raw_path.partition("?")
    decoded = unquote(path)
    if _SECRETS.search(decoded):
        path = redact(decoded)
    return f"{quote(method, safe=_VISIBLE)} {quote(path, safe=_VISIBLE)}{'?...' if question else ''}"
