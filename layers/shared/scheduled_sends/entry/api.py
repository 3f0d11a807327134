"""API Gateway (REST proxy) events in, responses out; errors as SendGrid-style bodies, mapped in one place."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..app.contract import ApiRequest, ApiResponse, Operation
from ..domain import ownership, regions, validation
from ..domain.errors import BadRequest, Forbidden, PayloadTooLarge, ServiceError, UnsupportedMediaType
from ..runtime.clock import deadline_in
from ..runtime.observability import flushing_metrics, logger, metrics, tracer
from ..runtime.settings import settings
from . import snapstart
from .bootstrap import services
from .headers import header_values

JSON_HEADERS = {"Content-Type": "application/json"}
_API_GATEWAY_BUDGET_SECONDS = 25.0  # API Gateway gives up at 29 s
_ANSWER_MARGIN_SECONDS = 1.5  # time left to record the outcome and answer
_BODY_METHODS = ("POST", "PATCH", "PUT")
Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


__all__ = ["ApiRequest", "ApiResponse", "api_handler", "error_body", "parse_request", "respond", "to_proxy_response"]


def error_body(message: str, field_name: str | None = None, extra: dict[str, Any] | None = None) -> str:
    return json.dumps({"errors": [{"field": field_name, "message": message}], **(extra or {})})


def _principal(event: dict[str, Any]) -> str:
    """The team of a token (AuthMode=TOKEN, set by our authorizer) or the IAM caller (SigV4)."""
    context = event.get("requestContext") or {}
    team = (context.get("authorizer") or {}).get("principalId")
    if team:
        return str(team)
    identity = context.get("identity") or {}
    return identity.get("userArn") or identity.get("caller") or "anonymous"


def _subusers(event: dict[str, Any]) -> tuple[str, ...]:
    """The subusers a team token is limited to (empty: any account), from our authorizer's context: a JSON list
    (`subusers_json`), or the comma form of an answer API Gateway cached before the JSON form existed (kept for
    up to TokenCacheSeconds after that deploy; no subuser issued since can hold a comma)."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    if "subusers_json" in context:
        try:
            listed = json.loads(context["subusers_json"])
        except (TypeError, ValueError):
            listed = None
        if not isinstance(listed, list) or not all(isinstance(name, str) and name for name in listed):
            raise Forbidden("this team token's subuser limit could not be read", field="on-behalf-of")
        return tuple(listed)
    legacy = context.get("subusers") or ""
    return tuple(part for part in str(legacy).split(",") if part)


def _body(event: dict[str, Any], method: str) -> str | None:
    raw = event.get("body")
    if raw is None or method not in _BODY_METHODS:
        return None  # GET/DELETE bodies are never forwarded
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the request body is not valid base64") from None
    else:
        data = raw.encode("utf-8", errors="surrogatepass")
    if len(data) > settings().max_body_bytes:
        raise PayloadTooLarge(f"the request body is larger than {settings().max_body_bytes} bytes")
    content_types = header_values(event, "content-type")
    if data.strip() and content_types:
        media_type = content_types[0].split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise UnsupportedMediaType("the request body must be application/json", field="content-type")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the request body is not valid UTF-8") from None


def _query(event: dict[str, Any]) -> dict[str, str]:
    """The query string's parameters; one given twice is refused (which one was meant cannot be known)."""
    multi = event.get("multiValueQueryStringParameters") or {}
    for name, values in multi.items():
        if len(values or ()) > 1:
            raise BadRequest(f"{name} may be given only once", field=name)
    return {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items() if v is not None}


def parse_request(event: dict[str, Any]) -> ApiRequest:
    method = str(event.get("httpMethod", "")).upper()
    context = event.get("requestContext") or {}
    on_behalf_of = validation.on_behalf_of(header_values(event, "on-behalf-of"))
    subusers = _subusers(event)
    if not ownership.subuser_permitted(subusers, on_behalf_of):
        raise Forbidden(
            f"this team token may act only on behalf of: {', '.join(subusers)}; send one of them in on-behalf-of",
            field="on-behalf-of",
        )
    return ApiRequest(
        method=method,
        path_parameters=dict(event.get("pathParameters") or {}),
        body=_body(event, method),
        on_behalf_of=on_behalf_of,
        principal=_principal(event),
        request_id=str(context.get("requestId", "")),
        idempotency_key=validation.idempotency_key(header_values(event, "idempotency-key")),
        subusers=subusers,
        query=_query(event),
    )


def to_proxy_response(response: ApiResponse) -> dict[str, Any]:
    headers = dict(response.headers)
    if response.body:
        headers.update(JSON_HEADERS)
    return {"statusCode": response.status, "headers": headers, "body": response.body, "isBase64Encoded": False}


def respond(event: dict[str, Any], operation: Operation) -> dict[str, Any]:
    """Parse, run one operation with the container's services (the composition root's), answer; every
    `ServiceError` becomes its status and a SendGrid-style body."""
    try:
        response = operation(parse_request(event), services())
    except ServiceError as error:
        kind = type(error).__name__
        log = logger.error if error.status >= 500 else logger.info
        log("request refused", extra={"error": kind, "status": error.status, "field": error.field})
        metrics.add_metric(name=kind, unit=MetricUnit.Count, value=1)
        response = ApiResponse(error.status, error_body(error.message, error.field, error.extra), error.headers)
    except Exception:
        # A bug of ours: answer in SendGrid's shape, keep the traceback in our logs only.
        logger.exception("unexpected error")
        metrics.add_metric(name="UnexpectedError", unit=MetricUnit.Count, value=1)
        response = ApiResponse(500, error_body("internal error; the request id is in the logs"))
    logger.info(
        "request answered",
        extra={
            "operation": operation.__name__,
            "status": response.status,
            "sendgrid_region": response.headers.get(regions.RESPONSE_HEADER),  # None: SendGrid was not called
        },
    )
    return to_proxy_response(response)


def _traced(handler: Handler) -> Handler:
    """Powertools' handler subsegment ("## <name>", annotated ColdStart and Service) when tracing is on. When it
    is off (POWERTOOLS_TRACE_DISABLED, or outside Lambda) the decorator would only build a dummy segment and
    annotate it on every request."""
    return handler if tracer.disabled else tracer.capture_lambda_handler(capture_response=False)(handler)


def api_handler(operation: Operation) -> Handler:
    """The Lambda handler of one operation, with Powertools logging, tracing and metrics wired in, and the
    function's SnapStart hooks registered."""
    snapstart.register_hooks()

    @logger.inject_lambda_context
    @_traced
    @flushing_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # API Gateway's request id, as correlation_paths.API_GATEWAY_REST would find it, without a JMESPath
        # search per request.
        logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
        # Answer before Lambda's timeout and API Gateway's 29 s, whatever SendGrid does.
        budget = min(
            context.get_remaining_time_in_millis() / 1000 - _ANSWER_MARGIN_SECONDS, _API_GATEWAY_BUDGET_SECONDS
        )
        with deadline_in(budget):
            return respond(event, operation)

    lambda_handler.__name__ = f"{operation.__name__}_handler"
    return lambda_handler
