"""Builds the API Gateway REST proxy event AWS sends for a request (same keys as `sam local generate-event`)."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

STAGE = "v3"
LOCAL_ACCOUNT_ID = "000000000000"


@dataclass
class LocalLambdaContext:
    """The parts of a Lambda context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 20_000  # the template's Timeout

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def proxy_event(
    *,
    method: str,
    resource: str,
    path: str,
    path_parameters: dict[str, str] | None = None,
    headers: list[tuple[str, str]] | None = None,
    query: str = "",
    body: bytes | None = None,
    caller_arn: str | None,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    """`path` is the resource path without the stage (e.g. /user/scheduled_sends/abc). `caller_arn` is the
    SigV4 caller; None behind a Lambda authorizer (whose context goes in requestContext.authorizer)."""
    headers = headers or []
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value  # API Gateway keeps the last value in `headers`
        multi.setdefault(name, []).append(value)
    query_multi = parse_qs(query, keep_blank_values=True) if query else {}
    text_body: str | None = None
    is_base64 = False
    if body:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode(), True
    now = time.time()
    user_agent = single.get("User-Agent") or next((v for k, v in single.items() if k.lower() == "user-agent"), None)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": {k: v[-1] for k, v in query_multi.items()} or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "resourceId": "local",
            "stage": STAGE,
            "requestId": request_id or str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": caller_arn.split(":")[4] if caller_arn and caller_arn.count(":") >= 5 else None,
                "cognitoIdentityId": None,
                "caller": None,
                "accessKey": None,
                "sourceIp": source_ip,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": caller_arn,
                "userAgent": user_agent,
                "user": None,
            },
            "path": f"/{STAGE}{path}",
            "resourcePath": resource,
            "httpMethod": method,
            "apiId": "local",
            "protocol": "HTTP/1.1",
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }
