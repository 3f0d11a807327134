"""The local API: template routes on 127.0.0.1, each request turned into an API Gateway proxy event and
given to the deployed handler module; moto (in-process server) for AWS and the SendGrid sandbox."""

from __future__ import annotations

import importlib.util
import json
import logging
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import requests
import yaml
from moto.server import ThreadedMotoServer

from . import template as cfn
from .authorizer import Refusal, authorize, method_arn
from .events import STAGE, LocalLambdaContext, proxy_event
from .http import LoopbackServer
from .redaction import redact, request_label
from .sendgrid_sandbox import EVERY_OTHER_SUBUSER, SendGridSandbox, parse_subusers

DEFAULT_CALLER_ARN = "arn:aws:iam::000000000000:user/local-developer"
# Local only: lets one developer act as several principals. Nothing deployed reads it.
CALLER_HEADER = "X-Local-Caller-Arn"
LOCAL_STACK_NAME = "scheduled-sends-local"
LOCAL_REGION = "us-east-1"
OPENAPI_PATH = cfn.ROOT / "openapi" / "scheduled-sends.yaml"
# What `python -m team_tokens --local` reads to find the local stack's tables (like describe-stacks).
STACK_PATH = "/_local/stack"
# The parent's subusers the local SendGrid sandboxes know (LOCAL_SUBUSERS): one global, one EU, and every other
# name a global subuser, so any `on-behalf-of` works locally as before while "eurocorp" shows EU routing.
DEFAULT_LOCAL_SUBUSERS = "acme:global,eurocorp:eu,*:global"

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class _LoadedRoute:
    route: cfn.Route
    handler: Handler
    authorizer: tuple[Handler, str] | None  # (handler, identity header) when a Lambda authorizer guards it


FunctionSpec = cfn.Route | cfn.ScheduledFunction | cfn.LambdaAuthorizer


def _load_handler(route: FunctionSpec) -> Handler:
    module_file, attribute = route.handler.rsplit(".", 1)
    module_name = f"local_functions.{route.function}.{module_file}"
    module: ModuleType | None = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, route.code_dir / f"{module_file}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return getattr(module, attribute)


class LocalService:
    """Everything `make run` serves. `start()` returns once it accepts requests; `stop()` undoes it all.

    Each function runs in a container of its own (the layer's `runtime.container`) built from exactly the
    environment Lambda would give it: Lambda's own variables (region, credentials, here moto's endpoint)
    plus the template's Globals and the function's own variables. The process's `os.environ` is never
    changed, so nothing running in another thread sees another function's settings.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        caller_arn: str = DEFAULT_CALLER_ARN,
        sendgrid_base_url: str | None = None,
        sendgrid_api_key: str | None = None,
        log: Callable[[str], None] = print,
        scan_seconds: float = 30.0,
        parameters: dict[str, str] | None = None,
        subusers: str | dict[str, str] = DEFAULT_LOCAL_SUBUSERS,
        sendgrid_eu_base_url: str | None = None,
        sendgrid_eu_api_key: str | None = None,
    ) -> None:
        """SendGrid is two embedded sandboxes, the global host and the EU host, each serving the accounts of its
        region among `subusers` ("name:region,...", "*" for every other name) - unless `sendgrid_base_url`
        names a SendGrid-compatible server (then `sendgrid_eu_base_url`, else SendGrid's EU host, serves EU
        subusers). `sendgrid_eu_api_key` gives the EU host a key of its own: the local secret then holds
        {"global": ..., "eu": ...}."""
        self.host, self.port, self.caller_arn = host, port, caller_arn
        self.parameters = dict(parameters or {})  # template parameter overrides, e.g. {"AuthMode": "TOKEN"}
        self._sendgrid_base_url = sendgrid_base_url
        self._sendgrid_eu_base_url = sendgrid_eu_base_url
        self.subusers = parse_subusers(subusers) if isinstance(subusers, str) else dict(subusers)
        self.api_key = sendgrid_api_key or f"SG.local-sandbox.{secrets.token_urlsafe(16)}"
        self.eu_api_key = sendgrid_eu_api_key or self.api_key
        self._log = lambda line: log(redact(line))  # every line the service prints
        self.template = cfn.load_template()
        declared = self.template.get("Parameters", {})
        for name, value in self.parameters.items():
            if name not in declared:
                raise ValueError(f"template.yaml has no parameter {name}")
            allowed = declared[name].get("AllowedValues")
            if allowed and value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        self.sandbox: SendGridSandbox | None = None  # the global host (api.sendgrid.com)
        self.eu_sandbox: SendGridSandbox | None = None  # the EU host (api.eu.sendgrid.com)
        self._moto: ThreadedMotoServer | None = None
        self._server: LoopbackServer | None = None
        self._containers: dict[str, Any] = {}
        self.aws_endpoint_url = ""
        self._routes: list[_LoadedRoute] = []
        self.refs: dict[str, str] = {}
        self.scan_seconds = scan_seconds
        self._scanners: list[Callable[[dict[str, Any], Any], Any]] = []
        self._stop_scanning = threading.Event()
        self._scan_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    @property
    def sendgrid_url(self) -> str:
        """The global host the functions call."""
        return self.sandbox.url if self.sandbox else str(self._sendgrid_base_url)

    @property
    def sendgrid_eu_url(self) -> str:
        """The EU host the functions call."""
        if self.eu_sandbox:
            return self.eu_sandbox.url
        return self._sendgrid_eu_base_url or cfn.resolve(
            {"Fn::FindInMap": ["SendGridRegions", "eu", "BaseUrl"]}, self.template, {}
        )

    @property
    def sandboxes(self) -> dict[str, SendGridSandbox]:
        """region -> the embedded sandbox serving it (empty with an outside SendGrid)."""
        return {r: s for r, s in (("global", self.sandbox), ("eu", self.eu_sandbox)) if s is not None}

    @property
    def sendgrid_region(self) -> str:
        """The stack's region (SendGridRegion): where the parent and customer accounts live."""
        return str(cfn.resolve({"Ref": "SendGridRegion"}, self.template, {**self._pseudo_refs(), **self.parameters}))

    def subusers_label(self) -> str:
        """The local subusers, as the banner shows them."""
        named = [f"{name} ({where})" for name, where in self.subusers.items() if name != EVERY_OTHER_SUBUSER]
        other = self.subusers.get(EVERY_OTHER_SUBUSER)
        return ", ".join(named + ([f"any other name ({other})"] if other else [])) or "none"

    def secret_string(self) -> str:
        """What the local secret holds: one key for both hosts, or one per region."""
        if self.eu_api_key == self.api_key:
            return self.api_key
        return json.dumps({"global": self.api_key, "eu": self.eu_api_key})

    def lambda_environment(self, function: str) -> dict[str, str]:
        """What Lambda itself sets for `function` (region, credentials; here moto's endpoint)."""
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_LAMBDA_FUNCTION_NAME": f"{LOCAL_STACK_NAME}-{function}",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    def function_environment(self, function: str) -> dict[str, str]:
        """The whole environment `function` runs with locally (Lambda's variables, then the template's)."""
        environment = {
            **self.lambda_environment(function),
            **cfn.function_environment(self.template, self.refs, function),
        }
        if "SENDGRID_API_BASE_URL" in environment:
            environment["SENDGRID_API_BASE_URL"] = self.sendgrid_url
        if "SENDGRID_EU_API_BASE_URL" in environment:
            environment["SENDGRID_EU_API_BASE_URL"] = self.sendgrid_eu_url
        return environment

    def powertools_environment(self) -> dict[str, str]:
        """The template's POWERTOOLS_* Globals, which Powertools reads from the process at import (`python -m
        local` sets them once, before any thread starts, as Lambda does before the handler is imported)."""
        variables = self.template["Globals"]["Function"].get("Environment", {}).get("Variables", {})
        refs = {**self._pseudo_refs(), **self.parameters}
        return {
            key: str(cfn.resolve(value, self.template, refs))
            for key, value in variables.items()
            if key.startswith("POWERTOOLS_")
        }

    def aws(self) -> boto3.session.Session:
        """A boto3 session on the local stack's moto (for the runner itself, the tests and the token command)."""
        return boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any
            region_name=LOCAL_REGION,
        )

    def aws_client(self, service: str) -> Any:
        return self.aws().client(service, endpoint_url=self.aws_endpoint_url)

    def aws_resource(self, service: str) -> Any:
        return self.aws().resource(service, endpoint_url=self.aws_endpoint_url)

    def _pseudo_refs(self) -> dict[str, str]:
        return {
            "AWS::StackName": LOCAL_STACK_NAME,
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": "000000000000",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def start(self) -> LocalService:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every AWS call
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        moto_host, moto_port = self._moto.get_host_and_port()
        self.aws_endpoint_url = f"http://{moto_host}:{moto_port}"
        # moto's backends are per process: start from an empty account even if a server ran here before.
        requests.post(f"{self.aws_endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
        if not self._sendgrid_base_url:
            parent = self.sendgrid_region
            self.sandbox = SendGridSandbox(self.api_key, region="global", subusers=self.subusers, parent_region=parent)
            self.eu_sandbox = SendGridSandbox(
                self.eu_api_key, region="eu", subusers=self.subusers, parent_region=parent
            )
            self.sandbox.start()
            self.eu_sandbox.start()
        self.refs = {**self._pseudo_refs(), **self.parameters}
        self.refs.update(self._create_resources())
        for layer in cfn.layer_dirs(self.template):  # Lambda's /opt/python: the layer on the import path
            if str(layer) not in sys.path:
                sys.path.insert(0, str(layer))
        self._routes = self._load_routes()
        self._scanners = [self._bind(function) for function in cfn.scheduled_functions(self.template)]
        # Looked up per request, so a test that wraps `dispatch` (the canary check's recorder) sees every answer.
        self._server = LoopbackServer(
            self.host, self.port, lambda *request: self.dispatch(*request), name="local-api", on_answer=self._log_answer
        )
        self._server.start()
        if self.scan_seconds > 0:
            self._scan_thread = threading.Thread(target=self._scan_forever, name="local-scanner", daemon=True)
            self._scan_thread.start()
        return self

    @property
    def auth_mode(self) -> str:
        return str(cfn.resolve({"Ref": "AuthMode"}, self.template, self.refs))

    def _load_routes(self) -> list[_LoadedRoute]:
        """Each route with its handler and, as the template's security says for these parameters, its
        Lambda authorizer (none for SigV4: it is not verified locally)."""
        security = cfn.route_security(self.template, self.refs)
        authorizers = {
            scheme: (self._bind(authorizer), authorizer.identity_header)
            for scheme, authorizer in cfn.lambda_authorizers(self.template, self.refs).items()
        }
        return [
            _LoadedRoute(route, self._bind(route), authorizers.get(security[(route.method, route.resource)]))
            for route in cfn.routes(self.template)
        ]

    def _bind(self, spec: FunctionSpec) -> Handler:
        """The function's handler, run inside the function's own container (one per function, kept warm)."""
        from scheduled_sends.runtime.container import Container, using  # the layer, on the path from start()

        handler = _load_handler(spec)
        if spec.function not in self._containers:
            self._containers[spec.function] = Container(self.function_environment(spec.function))
        container = self._containers[spec.function]

        def invoke(event: dict[str, Any], context: Any) -> Any:
            with using(container):
                return handler(event, context)

        return invoke

    def scan_now(self) -> list[Any]:
        """Run every scheduled function once with a scheduled event, as EventBridge would."""
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
        return [scanner(event, LocalLambdaContext(function_name="scanner")) for scanner in self._scanners]

    def _scan_forever(self) -> None:
        while not self._stop_scanning.wait(self.scan_seconds):
            try:
                self.scan_now()
            except Exception as error:  # a failed run is retried by the next one, as Lambda's retry would
                self._log(f"scanner run failed: {error}")

    def _create_resources(self) -> dict[str, str]:
        """Create in moto what the template creates (secret, table, bus, queue), returning each Ref value."""
        refs: dict[str, str] = {}
        stack = {"AWS::StackName": LOCAL_STACK_NAME}
        client = self.aws_client
        for name, resource in self.template["Resources"].items():
            properties = resource.get("Properties", {})
            if not cfn.exists(self.template, name, self.refs):
                continue
            if resource["Type"] == "AWS::SecretsManager::Secret":
                secret_name = cfn.resolve(properties["Name"], self.template, stack)
                refs[name] = client("secretsmanager").create_secret(
                    Name=secret_name, SecretString=self.secret_string()
                )["ARN"]
            elif resource["Type"] == "AWS::DynamoDB::Table":
                table_name = f"{LOCAL_STACK_NAME}-{name}"
                cfn.create_table(client("dynamodb"), table_name, properties)
                refs[name] = table_name
            elif resource["Type"] == "AWS::Events::EventBus":
                bus_name = cfn.resolve(properties["Name"], self.template, stack)
                client("events").create_event_bus(Name=bus_name)
                refs[name] = bus_name
            elif resource["Type"] == "AWS::SQS::Queue":
                refs[name] = client("sqs").create_queue(QueueName=f"{LOCAL_STACK_NAME}-{name}")["QueueUrl"]
        return refs

    def stop(self) -> None:
        self._stop_scanning.set()
        if self._scan_thread:
            self._scan_thread.join(timeout=30)
        if self._server:
            self._server.stop()
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        if self._moto:
            self._moto.stop()

    def _openapi(self, as_json: bool) -> tuple[int, dict[str, str], bytes]:
        """The service's published OpenAPI document (openapi/scheduled-sends.yaml), as YAML or JSON."""
        text = OPENAPI_PATH.read_text(encoding="utf-8")
        if as_json:
            return 200, {"Content-Type": "application/json"}, json.dumps(yaml.safe_load(text)).encode()
        return 200, {"Content-Type": "application/yaml"}, text.encode()

    def _stack(self) -> tuple[int, dict[str, str], bytes]:
        """The local stack as `describe-stacks` would show it, plus where its AWS (moto) answers."""
        stack = {
            "StackName": LOCAL_STACK_NAME,
            "Region": LOCAL_REGION,
            "AwsEndpointUrl": self.aws_endpoint_url,
            "Parameters": self.parameters,
            "Outputs": {**cfn.outputs(self.template, self.refs), "ApiUrl": self.url},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(stack).encode()

    def _log_answer(self, method: str, path: str, status: int, elapsed_ms: float) -> None:
        self._log(f"{request_label(method, path)} {status} {elapsed_ms:.1f}ms")

    def dispatch(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Find the template route, build the proxy event, call the handler, return status/headers/body."""
        parts = urlsplit(raw_path)
        if method == "GET" and parts.path in ("/openapi.yaml", "/openapi.json"):
            return self._openapi(parts.path.endswith(".json"))
        if method == "GET" and parts.path == STACK_PATH:
            return self._stack()
        prefix = f"/{STAGE}"
        path = parts.path[len(prefix) :] if parts.path.startswith(prefix + "/") else None
        for loaded in self._routes:
            params = loaded.route.match(method, path) if path is not None else None
            if params is None:
                continue
            caller = next((v for k, v in headers if k.lower() == CALLER_HEADER.lower()), self.caller_arn)
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
                context = authorize(handler, identity_header, event, method_arn(LOCAL_REGION, method, path))
                if isinstance(context, Refusal):
                    return context.answer()
                event["requestContext"]["authorizer"] = context
            result = loaded.handler(event, LocalLambdaContext(function_name=loaded.route.function))
            response_headers = dict(result.get("headers") or {})
            data = (result.get("body") or "").encode()
            return int(result["statusCode"]), response_headers, data
        allowed = sorted(
            {
                r.route.method
                for r in self._routes
                if path is not None and r.route.match(r.route.method, path) is not None
            }
        )
        if allowed:
            message = f"{method} is not allowed on {parts.path}; allowed: {', '.join(allowed)}"
            return (
                405,
                {"Content-Type": "application/json", "Allow": ", ".join(allowed)},
                json.dumps({"errors": [{"field": None, "message": message}]}).encode(),
            )
        message = f"no route for {method} {parts.path}; routes live under /{STAGE}/"
        return (
            404,
            {"Content-Type": "application/json"},
            json.dumps({"errors": [{"field": None, "message": message}]}).encode(),
        )
