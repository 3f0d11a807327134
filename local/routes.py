"""A request to the API as API Gateway answers it: the template route it matches, the proxy event built from it,
the Lambda authorizer where one guards the route, the function's answer; 405 and 404 in SendGrid's error shape."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import SplitResult, unquote

from .authorizer import Refusal, authorize, method_arn
from .events import STAGE, LocalLambdaContext, proxy_event
from .functions import LoadedRoute

# Local only: lets one developer act as several principals. Nothing deployed reads it.
CALLER_HEADER = "X-Local-Caller-Arn"
Answer = tuple[int, dict[str, str], bytes]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Answer:
    body = json.dumps({"errors": [{"field": None, "message": message}]}).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, body


class TemplateApi:
    """The template's routes under /<stage>/ (`routes` is the live list: tests may wrap a handler in it)."""

    def __init__(self, routes: list[LoadedRoute], default_caller: str, region: str) -> None:
        self.routes, self._default_caller, self._region = routes, default_caller, region

    def answer(
        self, method: str, parts: SplitResult, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[Answer, str | None]:
        """The answer, and who called (an IAM ARN, or "team <name>" behind the authorizer; None when no route
        ran)."""
        prefix = f"/{STAGE}"
        path = parts.path[len(prefix) :] if parts.path.startswith(prefix + "/") else None
        for loaded in self.routes:
            params = loaded.route.match(method, path) if path is not None else None
            if params is None:
                continue
            assert path is not None
            caller = next((v for k, v in headers if k.lower() == CALLER_HEADER.lower()), self._default_caller)
            event = proxy_event(
                method=method,
                resource=loaded.route.resource,
                path=path,
                path_parameters={key: unquote(value) for key, value in params.items()},
                headers=headers,
                query=parts.query,
                body=body,
                # Behind a Lambda authorizer there is no IAM identity: the team is the authorizer's principalId.
                caller_arn=None if loaded.authorizer else caller,
            )
            if loaded.authorizer:
                handler, identity_header = loaded.authorizer
                context = authorize(handler, identity_header, event, method_arn(self._region, method, path))
                if isinstance(context, Refusal):
                    return context.answer(), None
                event["requestContext"]["authorizer"] = context
                caller = f"team {context['principalId']}"
            result: dict[str, Any] = loaded.handler(event, LocalLambdaContext(function_name=loaded.route.function))
            response_headers = dict(result.get("headers") or {})
            data = (result.get("body") or "").encode()
            return (int(result["statusCode"]), response_headers, data), caller
        matching = [r for r in self.routes if path is not None and r.route.match(r.route.method, path) is not None]
        allowed = sorted({r.route.method for r in matching})
        if allowed:
            message = f"{method} is not allowed on {parts.path}; allowed: {', '.join(allowed)}"
            return _error(405, message, {"Allow": ", ".join(allowed)}), None
        return _error(404, f"no route for {method} {parts.path}; routes live under /{STAGE}/"), None
