"""One SendGrid host's HTTP client: the only code that speaks HTTP to SendGrid (`SendGridClient.call`), with
one keep-alive connection pool per host and container, retries, backoff and the key's refresh on a 401/403.
`api_path` builds the only paths it is given."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.httpsession import get_cert_path
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError

from ...domain.backoff import full_jitter, requested_wait
from ...domain.errors import (
    ServiceError,
    UpstreamKeyRejected,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ...runtime import clock
from ...runtime.observability import metrics, traced_http_call

USER_AGENT = "scheduled-sends-control-plane/1.0"
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class UpstreamResponse:
    """What SendGrid answered: status, JSON body text (empty for 204) and its rate-limit headers."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    uncertain: bool = False  # an earlier attempt may have been applied without us seeing SendGrid's answer


def api_path(*segments: str) -> str:
    """`/v3/<segments>`; refuses any segment that could change the URL (defence behind validation)."""
    for segment in segments:
        if not _SAFE_SEGMENT.fullmatch(segment):
            raise ValueError("unsafe path segment")
    return "/v3/" + "/".join(quote(segment, safe="") for segment in segments)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_seconds: float = 0.2
    cap_seconds: float = 5.0
    budget_seconds: float = 20.0  # the overall deadline when the caller set none


class SendGridClient:
    """One SendGrid host. urllib3 directly, not `requests`: the same connection pool without requests' work per
    call (about a third of a loopback call's time in `make bench`) or its import at cold start, and nothing from
    the environment (proxies, .netrc) can alter a request."""

    def __init__(
        self,
        base_url: str,
        api_key: Callable[[bool], str],
        connect_timeout: float,
        read_timeout: float,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        monotonic: Callable[[], float] | None = None,
        pool_size: int = 10,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        parts = urlsplit(self._base_url)
        self._prefix = parts.path  # a base URL may carry a path (a proxy's)
        self._host = parts.hostname or self._base_url
        self._api_key = api_key
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool_size = pool_size
        self._pool = self._new_pool()
        self._retry = retry or RetryPolicy()
        # The runtime clock's, read at each call (a test that runs time virtually moves them for every container).
        self._sleep = sleep or (lambda seconds: clock.sleep(seconds))
        self._monotonic = monotonic or (lambda: clock.monotonic())

    def call(
        self,
        method: str,
        path: str,
        *,
        on_behalf_of: str | None = None,
        body: dict[str, Any] | None = None,
        wait_out_rate_limits: bool = True,
    ) -> UpstreamResponse:
        """One SendGrid operation, retried on 429, 5xx, timeouts and connection errors with backoff and full
        jitter (or SendGrid's Retry-After / X-RateLimit-Reset) until the request's deadline. A 401/403
        refreshes the cached key once (key rotation) before it is reported. `wait_out_rate_limits=False`: a 429
        is reported at once (the scanner backs off for the rest of its run instead of competing with teams)."""
        # The request's deadline (from the Lambda's remaining time), else our own budget.
        deadline = clock.deadline() or self._monotonic() + self._retry.budget_seconds
        refresh_key, refreshed, uncertain = False, False, False
        attempt = 0
        while True:
            failure: ServiceError
            wait: float | None = None
            remaining = deadline - self._monotonic()
            try:
                response = self._send(method, path, on_behalf_of, body, refresh_key, max(0.05, remaining))
            except ConnectTimeoutError:  # no connection (refused, unresolved, timed out): nothing was sent now
                failure = UpstreamUnavailable(
                    "SendGrid could not be reached; a change may or may not have been applied"
                    if uncertain  # by an earlier attempt whose answer was lost
                    else "SendGrid could not be reached; nothing was changed by this service"
                )
            except ReadTimeoutError:
                uncertain = True
                failure = UpstreamTimeout(
                    "SendGrid did not answer in time; a change may or may not have been applied, "
                    "check with GET before retrying"
                )
            except (HTTPError, OSError):  # the connection failed once the request may have been sent
                uncertain = True
                failure = UpstreamUnavailable(
                    "SendGrid could not be reached; a change may or may not have been applied"
                )
            else:
                status = response.status
                if status in (401, 403) and not refreshed:
                    refresh_key = refreshed = True  # retry at once with a freshly read key
                    continue
                refresh_key = False
                if status in (401, 403):
                    raise UpstreamKeyRejected(
                        f"SendGrid rejected the service's own API key ({status}); "
                        "this is not a problem with your request and operators have been alerted"
                    )
                if status == 429 or status >= 500:
                    # Every such answer, retried or not: the dashboard shows how often SendGrid pushes back.
                    metrics.add_metric(
                        name=f"SendGridAnswered{'429' if status == 429 else '5xx'}", unit=MetricUnit.Count, value=1
                    )
                if status == 429:
                    wait = requested_wait(response.headers, clock.epoch())
                    failure = UpstreamRateLimited(
                        "SendGrid is rate limiting this service; try again later",
                        headers={"Retry-After": str(max(1, math.ceil(wait or 0)))},  # at least a second
                    )
                    if not wait_out_rate_limits:
                        raise failure
                elif status >= 500 or status < 200 or 300 <= status < 400:
                    uncertain = uncertain or status >= 500
                    failure = UpstreamUnavailable(f"SendGrid answered {status}; try again later")
                else:
                    return self._answer(response, uncertain)
            attempt += 1
            delay = (
                wait
                if wait is not None
                else full_jitter(attempt - 1, self._retry.base_seconds, self._retry.cap_seconds)
            )
            if attempt >= self._retry.max_attempts or self._monotonic() + delay >= deadline:
                raise failure
            self._sleep(delay)

    @staticmethod
    def _answer(response: urllib3.BaseHTTPResponse, uncertain: bool) -> UpstreamResponse:
        # SendGrid's JSON is UTF-8 (RFC 8259); what is not is replaced, as `requests` would, then refused below.
        text = response.data.decode("utf-8", errors="replace") if response.status != 204 else ""
        if text:
            try:
                json.loads(text)
            except ValueError:
                raise UpstreamUnavailable(f"SendGrid answered {response.status} with a body that is not JSON") from None
        headers = {name: response.headers[name] for name in RATE_LIMIT_HEADERS if name in response.headers}
        return UpstreamResponse(status=response.status, body=text, headers=headers, uncertain=uncertain)

    def close_connections(self) -> None:
        """Forget pooled keep-alive connections (a SnapStart restore); new ones are opened on the next call."""
        closed, self._pool = self._pool, self._new_pool()
        closed.close()

    def _new_pool(self) -> urllib3.HTTPConnectionPool:
        """As many keep-alive connections as concurrent calls (the scanner's pool), none opened per call. No
        retries or redirects of urllib3's own: `call` decides. TLS is verified against the CA bundle botocore
        uses (certifi's when installed, botocore's own otherwise)."""
        tls = {"ca_certs": get_cert_path(True)} if self._base_url.startswith("https:") else {}
        return urllib3.connection_from_url(self._base_url, maxsize=self._pool_size, retries=False, **tls)

    def _send(
        self,
        method: str,
        path: str,
        on_behalf_of: str | None,
        body: dict[str, Any] | None,
        refresh_key: bool,
        remaining: float,
    ) -> urllib3.BaseHTTPResponse:
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
        timeout = urllib3.Timeout(
            connect=min(self._connect_timeout, remaining), read=min(self._read_timeout, remaining)
        )
        response: urllib3.BaseHTTPResponse = traced_http_call(
            self._host,
            method,
            self._base_url + path,
            lambda: self._pool.urlopen(
                method, self._prefix + path, body=data, headers=headers, timeout=timeout, redirect=False
            ),
        )
        return response
