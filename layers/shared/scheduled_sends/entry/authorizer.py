"""The API Gateway Lambda authorizer of AuthMode=TOKEN: `Authorization: Bearer <team token>` in, an IAM
policy for the team out.

The policy allows the whole stage (not only the route asked for) because API Gateway caches it per token
for the configured TTL and reuses it on every route. What a team may do beyond calling the API (its
batches, its subusers) is decided by the operations from the context returned here.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.token_table import TokenStore, token_store
from ..domain import tokens
from ..runtime.observability import flushing_metrics, logger, metrics
from .headers import header_values

# The exact message API Gateway turns into a 401 (any other failure is a 500).
UNAUTHORIZED = "Unauthorized"


class Unauthorized(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(UNAUTHORIZED)
        self.reason = reason  # for our logs only; the caller always sees "Unauthorized"


def _stage_arn(method_arn: str) -> str:
    """arn:aws:execute-api:region:account:api/stage/METHOD/path -> arn:...:api/stage/*/*"""
    prefix, _, path = method_arn.partition(":execute-api:")
    region_account_api = path.split("/", 2)[:2]
    if not prefix or len(region_account_api) != 2:
        raise Unauthorized("the event has no usable methodArn")
    return f"{prefix}:execute-api:{'/'.join(region_account_api)}/*/*"


def team_of(event: dict[str, Any], store: TokenStore) -> tokens.TeamToken:
    """The token record behind the request's bearer token; Unauthorized for anything else."""
    values = header_values(event, "authorization")
    if len(values) != 1:
        raise Unauthorized("no Authorization header" if not values else "several Authorization headers")
    bearer = tokens.bearer_token(values[0])
    parsed = tokens.parse(bearer) if bearer else None
    if parsed is None:
        raise Unauthorized("not a Bearer team token")
    token_id, secret = parsed
    record = store.get(token_id)
    if record is None or not tokens.matches(record, secret):
        raise Unauthorized(f"unknown token or wrong secret (token id {token_id})")
    if record.revoked:
        raise Unauthorized(f"token {token_id} was revoked at {record.revoked_at}")
    return record


def policy_for(event: dict[str, Any], store: TokenStore) -> dict[str, Any]:
    record = team_of(event, store)
    return {
        "principalId": record.principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": _stage_arn(event.get("methodArn", ""))}
            ],
        },
        # Context values must be strings, numbers or booleans. The subusers go as a JSON list ("[]" = any
        # account), exact whatever a name holds. "subusers" is the comma form that handlers of the previous release
        # read while a deploy rolls out (without it they would read "any account"); drop it a release later.
        "context": {
            "team": record.team,
            "token_id": record.token_id,
            "subusers_json": json.dumps(list(record.subusers)),
            "subusers": ",".join(record.subusers),
        },
    }


@logger.inject_lambda_context
@flushing_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        answer = policy_for(event, token_store())
    except Unauthorized as refused:
        logger.info("team token refused", extra={"reason": refused.reason})
        metrics.add_metric(name="TeamTokenRefused", unit=MetricUnit.Count, value=1)
        raise Exception(UNAUTHORIZED) from None  # API Gateway answers 401 to exactly this message
    except Exception:
        logger.exception("team token could not be checked")
        metrics.add_metric(name="TeamTokenAuthorizerFailed", unit=MetricUnit.Count, value=1)
        raise
    logger.info("team token accepted", extra=answer["context"])
    return answer
