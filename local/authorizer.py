"""API Gateway's side of a REQUEST Lambda authorizer, locally: the event it sends, and what it makes of
the answer (401 on "Unauthorized", 403 when the policy does not allow the method, else the context).

Unlike API Gateway, answers are not cached here, so a revoked token is refused on its very next request.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .events import LOCAL_ACCOUNT_ID, STAGE, LocalLambdaContext

LOCAL_API_ID = "local"
UNAUTHORIZED = "Unauthorized"


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        body = {"errors": [{"field": None, "message": self.message}]}  # DEFAULT_4XX/5XX's shape
        return self.status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def method_arn(region: str, method: str, path: str) -> str:
    return f"arn:aws:execute-api:{region}:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/{STAGE}/{method}{path}"


def _allows(policy: dict[str, Any], arn: str) -> bool:
    def matching(effect: str) -> bool:
        for statement in policy.get("Statement", []):
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            if statement.get("Effect") == effect and any(fnmatch.fnmatchcase(arn, r) for r in resources):
                return True
        return False

    return matching("Allow") and not matching("Deny")


def authorize(
    handler: Callable[[dict[str, Any], Any], Any],
    identity_header: str,
    request_event: dict[str, Any],
    arn: str,
) -> dict[str, Any] | Refusal:
    """The `requestContext.authorizer` for the integration, or why API Gateway would refuse."""
    headers = {k.lower(): v for k, v in (request_event.get("headers") or {}).items()}
    if not headers.get(identity_header.lower()):
        return Refusal(401, UNAUTHORIZED)  # API Gateway does not even call the authorizer
    # API Gateway's REQUEST authorizer event: the request as the integration will see it, without the body.
    request = {key: value for key, value in request_event.items() if key not in ("body", "isBase64Encoded")}
    event = {"type": "REQUEST", "methodArn": arn, **request}
    try:
        answer = handler(event, LocalLambdaContext(function_name="authorizer"))
    except Exception as error:
        if str(error) == UNAUTHORIZED:
            return Refusal(401, UNAUTHORIZED)
        return Refusal(500, "the authorizer failed")  # API Gateway: AuthorizerConfigurationException
    if not _allows(answer.get("policyDocument") or {}, arn):
        return Refusal(403, "User is not authorized to access this resource")
    return {"principalId": answer["principalId"], **(answer.get("context") or {})}
