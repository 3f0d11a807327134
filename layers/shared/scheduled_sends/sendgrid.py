"""The only code that speaks HTTP to SendGrid: one keep-alive session per container."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import quote

import requests

from .config import settings
from .errors import UpstreamKeyRejected, UpstreamTimeout, UpstreamUnavailable
from .secrets import sendgrid_api_key

USER_AGENT = "scheduled-sends-control-plane/1.0"
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class UpstreamResponse:
    """What SendGrid answered: status, JSON body text (empty for 204) and its rate-limit headers."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def api_path(*segments: str) -> str:
    """`/v3/<segments>`; refuses any segment that could change the URL (defence behind validation)."""
    for segment in segments:
        if not _SAFE_SEGMENT.fullmatch(segment):
            raise ValueError("unsafe path segment")
    return "/v3/" + "/".join(quote(segment, safe="") for segment in segments)


class SendGridClient:
    def __init__(
        self,
        base_url: str,
        api_key: Callable[[bool], str],
        connect_timeout: float,
        read_timeout: float,
        session: requests.Session | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = (connect_timeout, read_timeout)
        self._session = session or requests.Session()
        # No proxies or .netrc from the environment: nothing outside this module may alter the request.
        self._session.trust_env = False

    def call(
        self,
        method: str,
        path: str,
        *,
        on_behalf_of: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> UpstreamResponse:
        """One SendGrid operation. A 401/403 refreshes the cached key once before it is reported."""
        response = self._send(method, path, on_behalf_of, body, refresh_key=False)
        if response.status_code in (401, 403):
            response = self._send(method, path, on_behalf_of, body, refresh_key=True)
            if response.status_code in (401, 403):
                raise UpstreamKeyRejected(
                    f"SendGrid rejected the service's own API key ({response.status_code}); "
                    "this is not a problem with your request and operators have been alerted"
                )
        if response.status_code >= 500 or response.status_code < 200 or 300 <= response.status_code < 400:
            raise UpstreamUnavailable(f"SendGrid answered {response.status_code}; the request may be retried later")
        text = response.text if response.status_code != 204 else ""
        if text:
            try:
                json.loads(text)
            except ValueError:
                raise UpstreamUnavailable(
                    f"SendGrid answered {response.status_code} with a body that is not JSON"
                ) from None
        headers = {name: response.headers[name] for name in RATE_LIMIT_HEADERS if name in response.headers}
        return UpstreamResponse(status=response.status_code, body=text, headers=headers)

    def close_connections(self) -> None:
        """Forget pooled keep-alive connections; the session opens new ones on the next call."""
        self._session.close()

    def _send(
        self,
        method: str,
        path: str,
        on_behalf_of: str | None,
        body: dict[str, Any] | None,
        refresh_key: bool,
    ) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {self._api_key(refresh_key)}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if on_behalf_of is not None:
            headers["on-behalf-of"] = on_behalf_of
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":")).encode()
        try:
            return self._session.request(
                method,
                self._base_url + path,
                headers=headers,
                data=data,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise UpstreamTimeout(
                f"SendGrid did not answer within {self._timeout[1]:g} s; "
                "a change may or may not have been applied, check with GET before retrying"
            ) from None
        except requests.RequestException:
            raise UpstreamUnavailable("SendGrid could not be reached; nothing was changed by this service") from None


@cache
def sendgrid_client() -> SendGridClient:
    """The container's client, built on first use so an import costs no I/O."""
    config = settings()
    return SendGridClient(
        config.sendgrid_api_base_url,
        sendgrid_api_key,
        config.connect_timeout_seconds,
        config.read_timeout_seconds,
    )
