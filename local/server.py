"""The local API: template routes on 127.0.0.1, each request turned into an API Gateway proxy event and
given to the deployed handler module; moto (in-process server) for AWS and the SendGrid sandbox.

Besides the API it serves the local stack's own controls: `/_local/stack` (outputs, like describe-stacks),
`/_local/events` (what the bus carried) and `/_local/clock` (the time and the last scan; POST: move time, then
run the scanner once)."""

from __future__ import annotations

import errno
import importlib.util
import json
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import requests
import yaml
from moto.server import ThreadedMotoServer

from . import template as cfn
from .authorizer import Refusal, authorize, method_arn
from .bus import BadFilter, EventTap, since_seconds
from .console import (
    CONSOLE_PATH,
    LATEST_EVENTS,
    AtRiskSection,
    ConsoleView,
    account_name,
    at_risk,
    batch_view,
    render_at_risk_table,
    render_console,
    slots_from_sendgrid,
    slots_from_table,
)
from .events import LOCAL_ACCOUNT_ID, STAGE, LocalLambdaContext, proxy_event
from .http import LoopbackServer
from .moto_atomic import make_dynamodb_atomic
from .pipe import STREAMS_CLIENT_CONFIG, LocalPipe, table_pipe
from .redaction import caller_label, redact, request_label
from .sendgrid_sandbox import EVERY_OTHER_SUBUSER, SendGridSandbox, parse_subusers

DEFAULT_CALLER_ARN = "arn:aws:iam::000000000000:user/local-developer"
# Local only: lets one developer act as several principals. Nothing deployed reads it.
CALLER_HEADER = "X-Local-Caller-Arn"
LOCAL_STACK_NAME = "scheduled-sends-local"
LOCAL_REGION = "us-east-1"
OPENAPI_PATH = cfn.ROOT / "openapi" / "scheduled-sends.yaml"
# What `scheduled-sends --local` reads to find the local stack (its outputs and moto, like describe-stacks).
STACK_PATH = "/_local/stack"
EVENTS_PATH = "/_local/events"  # GET: what the bus carried (?detail-type=&batch_id=&since=)
CLOCK_PATH = "/_local/clock"  # POST {"advance": "71h"} or {"at": <unix seconds>}: move time, then scan once
# The parent's subusers the local SendGrid sandboxes know (LOCAL_SUBUSERS): one global, one EU, and every other
# name a global subuser, so any `on-behalf-of` works locally as before while "eurocorp" shows EU routing.
DEFAULT_LOCAL_SUBUSERS = "acme:global,eurocorp:eu,*:global"

Handler = Callable[[dict[str, Any], Any], Any]
_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class PortInUse(OSError):
    """Another process already listens on the local API's host and port."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"{host}:{port} is in use")
        self.host, self.port = host, port


class ClockRefused(ValueError):
    """A POST /_local/clock body that does not say how to move time forward."""


def duration_seconds(value: Any) -> int:
    """ "71h", "3d", "1h30m", "90s" or a number of seconds, as whole seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    found = _DURATION.fullmatch(value.strip()) if isinstance(value, str) and value.strip() else None
    if not found or not any(found.groupdict().values()):
        raise ClockRefused(f'advance takes a duration such as "71h", "30m", "1h30m" or seconds, not {value!r}')
    return sum(int(amount) * _UNIT_SECONDS[unit] for unit, amount in found.groupdict().items() if amount)


def _json_answer(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _refusal(status: int, message: str, field: str | None = None) -> tuple[int, dict[str, str], bytes]:
    return _json_answer(status, {"errors": [{"field": field, "message": message}]})


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
        events_seconds: float = 0.0,
        events_url: str | None = None,
    ) -> None:
        """SendGrid is two embedded sandboxes, the global host and the EU host, each serving the accounts of its
        region among `subusers` ("name:region,...", "*" for every other name) - unless `sendgrid_base_url`
        names a SendGrid-compatible server (then `sendgrid_eu_base_url`, else SendGrid's EU host, serves EU
        subusers). `sendgrid_eu_api_key` gives the EU host a key of its own: the local secret then holds
        {"global": ..., "eu": ...}. Every `events_seconds` (0: only when asked, by GET /_local/events) the events
        on the bus are collected, printed and, with `events_url` (LOCAL_EVENTS_URL), POSTed there one by one."""
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
        self.events_seconds = events_seconds
        self.events_url = events_url
        self._pipe: LocalPipe | None = None
        self._tap: EventTap | None = None
        self._events_lock = threading.Lock()
        self._events_thread: threading.Thread | None = None
        self._clock_offset = 0.0  # how far POST /_local/clock has moved time, for the service and the sandboxes
        # The console's at-risk table: the dashboard widget's renderer once it is in the layer.
        self.at_risk_section: AtRiskSection = render_at_risk_table
        self._request = threading.local()  # who the request this thread answers came from, for its log line
        self._scanning = threading.local()  # set in the thread running a scan (`python -m local` quiets its metrics)
        # The latest scan_and_report (local stack time), for GET /_local/clock: "did the scanner run recently?"
        self.last_scan: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def now(self) -> int:
        """The local stack's time: wall time, moved forward by POST /_local/clock (the sandboxes' clock too)."""
        return int(time.time() + self._clock_offset)

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

    def bind(self) -> LocalService:
        """Take the API's port (served from `start()` on); PortInUse when it is taken. `start()` binds first if
        this was not called, so a taken port is found before anything starts."""
        if self._server is not None:
            return self
        try:
            self._server = LoopbackServer(
                self.host,
                self.port,
                lambda *request: self.dispatch(*request),  # looked up per request: tests wrap `dispatch`
                name="local-api",
                on_answer=self._log_answer,
            )
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(self.host, self.port) from None
            raise
        return self

    def start(self) -> LocalService:
        """Raises PortInUse, before anything else starts, when the API's port is taken."""
        self.bind()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every AWS call
        make_dynamodb_atomic()  # the API serves requests in parallel: moto must not show half an update
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        moto_host, moto_port = self._moto.get_host_and_port()
        self.aws_endpoint_url = f"http://{moto_host}:{moto_port}"
        # moto's backends are per process: start from an empty account even if a server ran here before.
        requests.post(f"{self.aws_endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
        if not self._sendgrid_base_url:
            parent = self.sendgrid_region
            self.sandbox = SendGridSandbox(
                self.api_key, region="global", subusers=self.subusers, parent_region=parent, clock=self.now
            )
            self.eu_sandbox = SendGridSandbox(
                self.eu_api_key, region="eu", subusers=self.subusers, parent_region=parent, clock=self.now
            )
            self.sandbox.start()
            self.eu_sandbox.start()
        self.refs = {**self._pseudo_refs(), **self.parameters}
        self.refs.update(self._create_resources())
        self._routes = self._load_routes()
        self._scanners = [self._bind(function) for function in cfn.scheduled_functions(self.template)]
        self._pipe = table_pipe(
            self.template,
            self.aws_client("dynamodb"),
            self.aws().client("dynamodbstreams", endpoint_url=self.aws_endpoint_url, config=STREAMS_CLIENT_CONFIG),
            self.aws_client("events"),
            self.refs["BatchesTable"],
            self.refs["EventBus"],
        )
        self._tap = EventTap.attach(
            self.aws_client("sqs"),
            self.aws_client("events"),
            self.refs["EventBus"],
            f"{LOCAL_STACK_NAME}-local-events",
            self._log,
            self.events_url,
            LOCAL_ACCOUNT_ID,
        )
        self._server.start()
        if self.scan_seconds > 0:
            self._scan_thread = threading.Thread(target=self._scan_forever, name="local-scanner", daemon=True)
            self._scan_thread.start()
        if self.events_seconds > 0:
            self._events_thread = threading.Thread(target=self._collect_events, name="local-events", daemon=True)
            self._events_thread.start()
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
        self._scanning.active = True
        try:
            return [scanner(event, LocalLambdaContext(function_name="scanner")) for scanner in self._scanners]
        finally:
            self._scanning.active = False

    def scanning(self) -> bool:
        """Whether the calling thread is running a scan."""
        return getattr(self._scanning, "active", False)

    def scan_and_report(self) -> dict[str, Any]:
        """One scanner run, told in one short line (the scanner's own summary log line is for CloudWatch): what
        it did, or that it failed (the next run retries, as Lambda's retry would)."""
        started = self.now()
        try:
            (counts,) = self.scan_now()
        except Exception as error:
            self._log(f"scan failed: {error}")
            self.last_scan = {"at": started, "time": _iso(started), "error": str(error)}
            return {"error": str(error)}
        self._log("scan: " + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items()))
        self.last_scan = {"at": started, "time": _iso(started), "counts": counts}
        return counts

    def _scan_forever(self) -> None:
        while not self._stop_scanning.wait(self.scan_seconds):
            self.scan_and_report()

    def collect_events(self) -> list[dict[str, Any]]:
        """What reached the bus since the last look: the change events the template's pipe makes of the table's
        stream are put on the bus first, then every event of the bus is read (kept, printed, forwarded)."""
        with self._events_lock:
            return self._collect_events_locked()

    def _collect_events_locked(self) -> list[dict[str, Any]]:
        assert self._pipe is not None and self._tap is not None
        self._pipe.pump()
        return self._tap.drain()

    def _collect_events(self) -> None:
        while not self._stop_scanning.wait(self.events_seconds):
            try:
                self.collect_events()
            except Exception as error:  # e.g. moto stopping under us; the next look tries again
                self._log(f"reading the local bus failed: {error}")

    def move_clock(self, seconds: float) -> None:
        """Move the local stack's time forward by `seconds`: every function's clock and both sandboxes'."""
        from scheduled_sends.runtime import clock  # the layer, on the path from start()

        if seconds < 0:
            raise ClockRefused("the local clock only moves forward")
        self._clock_offset += seconds
        clock.move_by(self._clock_offset)

    def advance(self, body: Any) -> dict[str, Any]:
        """POST /_local/clock: move time (`advance` a duration, or to `at` unix seconds), run the scanner once and
        say what it did and which events it published."""
        if not isinstance(body, dict) or len(body.keys() & {"advance", "at"}) != 1 or set(body) - {"advance", "at"}:
            raise ClockRefused('send {"advance": "71h"} (or "30m", "1h30m", seconds) or {"at": <unix seconds>}')
        before = self.now()
        if "advance" in body:
            moved = duration_seconds(body["advance"])
        elif isinstance(body["at"], int | float) and not isinstance(body["at"], bool):
            moved = int(body["at"]) - before
        else:
            raise ClockRefused(f"at takes unix seconds, not {body['at']!r}")
        self.move_clock(moved)
        self._log(f"clock: moved forward {moved} s to {_iso(self.now())}")
        assert self._tap is not None
        with self._events_lock:  # what came before the move is not the scan's
            self._collect_events_locked()
            before_scan = self._tap.mark()
        scan = self.scan_and_report()
        self.collect_events()  # waits for a background collection under way: it may hold the scan's events
        return {
            "now": self.now(),
            "time": _iso(self.now()),
            "moved_seconds": moved,
            "offset_seconds": self._clock_offset,
            "scan": scan,
            # Whoever read them off the bus (this request or `make run`'s collection every 0.5 s), the scan's.
            "events": self._tap.kept_since(before_scan),
        }

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
        """Undo `start()`; once (a second call does nothing)."""
        if self._stop_scanning.is_set():
            return
        self._stop_scanning.set()
        if self._scan_thread:
            self._scan_thread.join(timeout=30)
        if self._events_thread:
            self._events_thread.join(timeout=30)
        if self._clock_offset:
            from scheduled_sends.runtime import clock

            clock.move_by(0)  # the process's time is wall time again
        if self._server:
            self._server.stop()
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        if self._moto:
            self._moto.stop()

    def batch_rows(self) -> list[dict[str, Any]]:
        """Every row of the local batches table (moto), as the boto3 resource reads it."""
        table = self.aws_resource("dynamodb").Table(self.refs["BatchesTable"])
        answer = table.scan()
        rows = answer["Items"]
        while "LastEvaluatedKey" in answer:
            answer = table.scan(ExclusiveStartKey=answer["LastEvaluatedKey"])
            rows += answer["Items"]
        return rows

    def account_region(self, account: str) -> str | None:
        """Where an account lives, as the local SendGrid knows it ("parent": the stack's SendGridRegion)."""
        if account == "parent":
            return self.sendgrid_region
        return self.sandbox.region_of(account) if self.sandbox else None

    def console_view(self) -> ConsoleView:
        """What GET /_local/console shows, read now: the table's paused batches at risk, each account's slots
        (from the SendGrid sandboxes when they serve, else from the table) and the latest events of the bus."""
        assert self._tap is not None
        self.collect_events()
        now = self.now()
        rows = self.batch_rows()
        batches = [batch_view(row, now, self.account_region(account_name(row["account"]))) for row in rows]
        names = {b["account"] for b in batches}
        if self.sandboxes:
            held: dict[str, dict[str, str]] = {}
            for sandbox in self.sandboxes.values():
                for name, statuses in sandbox.held().items():
                    held.setdefault(name or "parent", {}).update(statuses)
            owners = {(b["account"], b["batch_id"]): b["owner"] for b in batches}
            regions = {name: self.account_region(name) for name in names | set(held)}
            accounts, source = slots_from_sendgrid(held, owners, regions), "the SendGrid sandboxes"
        else:
            regions = {name: self.account_region(name) for name in names}
            accounts, source = slots_from_table(batches, regions), "the batches table"
        events = self._tap.events()[-LATEST_EVENTS:][::-1]
        return ConsoleView(LOCAL_STACK_NAME, now, at_risk(batches), accounts, source, events)

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
            "SendGridUrls": {"global": self.sendgrid_url, "eu": self.sendgrid_eu_url},  # the sandboxes, by region
            "Parameters": self.parameters,
            "Outputs": {**cfn.outputs(self.template, self.refs), "ApiUrl": self.url},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(stack).encode()

    def _events(self, query: str) -> tuple[int, dict[str, str], bytes]:
        """GET /_local/events: the events the bus carried, oldest first, filtered by `detail-type`, `batch_id`
        and `since` (unix seconds or ISO 8601, compared with each event's time)."""
        filters = {name: values[-1] for name, values in parse_qs(query).items()}
        unknown = set(filters) - {"detail-type", "batch_id", "since"}
        if unknown:
            return _refusal(400, f"unknown filter {sorted(unknown)[0]}; filters: detail-type, batch_id, since")
        try:
            since = since_seconds(filters["since"]) if "since" in filters else None
        except BadFilter as problem:
            return _refusal(400, str(problem), "since")
        assert self._tap is not None
        self.collect_events()
        return _json_answer(200, self._tap.events(filters.get("detail-type"), filters.get("batch_id"), since))

    def _clock(self, method: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """GET: the local stack's time. POST: move it forward, run the scanner once, answer what it did."""
        if method == "GET":
            return _json_answer(
                200,
                {
                    "now": self.now(),
                    "time": _iso(self.now()),
                    "offset_seconds": self._clock_offset,
                    "last_scan": self.last_scan,
                },
            )
        try:
            document = json.loads(body or b"null")
        except ValueError:
            return _refusal(400, "the body is not JSON")
        try:
            return _json_answer(200, self.advance(document))
        except ClockRefused as problem:
            return _refusal(400, str(problem))

    def _log_answer(self, method: str, path: str, status: int, elapsed_ms: float) -> None:
        """One short line per request: method, path, status, milliseconds and who called (when a route ran)."""
        caller = getattr(self._request, "caller", None)
        self._request.caller = None
        by = f" by {caller_label(caller)}" if caller else ""
        self._log(f"{request_label(method, path)} {status} {elapsed_ms:.1f}ms{by}")

    def dispatch(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Find the template route, build the proxy event, call the handler, return status/headers/body."""
        self._request.caller = None
        parts = urlsplit(raw_path)
        if method == "GET" and parts.path in ("/openapi.yaml", "/openapi.json"):
            return self._openapi(parts.path.endswith(".json"))
        if method == "GET" and parts.path == STACK_PATH:
            return self._stack()
        if parts.path == EVENTS_PATH and method == "GET":
            return self._events(parts.query)
        if parts.path == CLOCK_PATH and method in ("GET", "POST"):
            return self._clock(method, body)
        if parts.path == CONSOLE_PATH and method == "GET":
            page = render_console(self.console_view(), self.at_risk_section)
            return 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, page.encode()
        prefix = f"/{STAGE}"
        path = parts.path[len(prefix) :] if parts.path.startswith(prefix + "/") else None
        for loaded in self._routes:
            params = loaded.route.match(method, path) if path is not None else None
            if params is None:
                continue
            assert path is not None  # a route matched it
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
            self._request.caller = None if loaded.authorizer else caller
            if loaded.authorizer:
                handler, identity_header = loaded.authorizer
                context = authorize(handler, identity_header, event, method_arn(LOCAL_REGION, method, path))
                if isinstance(context, Refusal):
                    return context.answer()
                event["requestContext"]["authorizer"] = context
                self._request.caller = f"team {context['principalId']}"
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


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
