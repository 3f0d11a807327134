"""The service's HTTP API as the tool calls it: JSON in and out, every request signed (deployed stacks) or sent
as the local developer (`make run`), errors turned into the tool's exit codes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from .outcome import CommandFailed, NotFoundOrForbidden, UsageProblem

STAGE = "v3"
TIMEOUT_SECONDS = 30
USER_AGENT = "scheduled-sends-cli"

# (method, url, headers, body) -> the headers to send (adds Authorization, e.g. SigV4).
Signer = Callable[[str, str, dict[str, str], bytes], dict[str, str]]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the JSON document, or None for an empty body
    headers: dict[str, str]
    seconds: float  # how long the request took


def _messages(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        parts = []
        for error in body["errors"]:
            if isinstance(error, dict):
                field = f"{error.get('field')}: " if error.get("field") else ""
                parts.append(f"{field}{error.get('message')}")
        if parts:
            return "; ".join(parts)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])  # API Gateway's own answers (403 Missing Authentication Token, ...)
    return json.dumps(body) if body is not None else "no body"


class Api:
    """Calls `<base>/v3/<path>`; `sign` adds the caller's authentication."""

    def __init__(self, base_url: str, sign: Signer, pool: urllib3.PoolManager | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._sign = sign
        self._pool = pool or urllib3.PoolManager(retries=False, timeout=TIMEOUT_SECONDS)

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        given = {k: v for k, v in (query or {}).items() if v is not None and v != ""}
        return f"{self.base_url}/{STAGE}{path}" + (f"?{urlencode(given, quote_via=quote)}" if given else "")

    def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        on_behalf_of: str | None = None,
    ) -> Answer:
        """One request; any answer (2xx or not) comes back as an Answer; no answer at all is CommandFailed."""
        url = self.url(path, query)
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if on_behalf_of is not None:
            headers["on-behalf-of"] = on_behalf_of
        headers = self._sign(method, url, headers, data)
        started = time.monotonic()
        try:
            response = self._pool.request(method, url, body=data or None, headers=headers)
        except urllib3.exceptions.HTTPError as error:
            raise CommandFailed(f"no answer from {self.base_url}: {error}") from None
        seconds = time.monotonic() - started
        text = response.data.decode("utf-8", "replace")
        try:
            document = json.loads(text) if text.strip() else None
        except ValueError:
            document = {"message": text[:200]}
        return Answer(response.status, document, {k.lower(): v for k, v in response.headers.items()}, seconds)

    def expect(self, answer: Answer, what: str, *statuses: int) -> Answer:
        """`answer` when its status is one of `statuses` (default any 2xx), else the matching exit code."""
        if (answer.status in statuses) if statuses else 200 <= answer.status < 300:
            return answer
        message = f"{what}: {answer.status} {_messages(answer.body)}"
        if answer.status in (401, 403, 404):
            raise NotFoundOrForbidden(message)
        if 400 <= answer.status < 500:
            raise UsageProblem(message)
        raise CommandFailed(message)


def batch_path(batch_id: str) -> str:
    """A batch id in a path, escaped (the service refuses ids it would not pass to SendGrid, with a 400)."""
    return quote(batch_id, safe="")
