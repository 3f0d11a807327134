"""`LocalService`: everything `make run` serves, put together - the template's routes on 127.0.0.1 (`routes`,
`functions`), moto for AWS (`local_aws`), the SendGrid sandboxes, the scanner and the clock (`scanning`), what
the bus carries (`event_feed`) and the `/_local/*` controls and console (`controls`, `console`). This module
only composes them and owns their start and stop."""

from __future__ import annotations

import errno
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import boto3

from . import template as cfn
from .bus import EventTap
from .console import LATEST_EVENTS, AtRiskSection, ConsoleView, read_console
from .controls import CLOCK_PATH, EVENTS_PATH, OPENAPI_PATH, STACK_PATH, LocalControls
from .event_feed import EventFeed
from .events import LOCAL_ACCOUNT_ID
from .functions import LoadedRoute, LocalFunctions
from .http import LoopbackServer
from .local_aws import LOCAL_REGION, LOCAL_STACK_NAME, LocalAws, pseudo_refs
from .pipe import STREAMS_CLIENT_CONFIG, table_pipe
from .redaction import caller_label, redact, request_label
from .routes import CALLER_HEADER, Answer, TemplateApi
from .scanning import ClockRefused, LocalClock, ScannerLoop, duration_seconds
from .sendgrid_sandbox import EVERY_OTHER_SUBUSER, SendGridSandbox, parse_subusers
from .server_file import STATE_FILE, state_path

__all__ = [
    "CALLER_HEADER",
    "CLOCK_PATH",
    "DEFAULT_CALLER_ARN",
    "DEFAULT_LOCAL_SUBUSERS",
    "EVENTS_PATH",
    "LOCAL_REGION",
    "LOCAL_STACK_NAME",
    "OPENAPI_PATH",
    "STACK_PATH",
    "STATE_FILE",
    "ClockRefused",
    "LocalService",
    "PortInUse",
    "duration_seconds",
    "state_path",
]

DEFAULT_CALLER_ARN = "arn:aws:iam::000000000000:user/local-developer"
# The parent's subusers the local SendGrid sandboxes know (LOCAL_SUBUSERS): one global, one EU, and every other
# name a global subuser, so any `on-behalf-of` works locally as before while "eurocorp" shows EU routing.
DEFAULT_LOCAL_SUBUSERS = "acme:global,eurocorp:eu,*:global"


class PortInUse(OSError):
    """Another process already listens on the local API's host and port."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"{host}:{port} is in use")
        self.host, self.port = host, port


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
        self._aws = LocalAws()
        self._server: LoopbackServer | None = None
        self._api: TemplateApi | None = None
        self._controls: LocalControls | None = None
        self._feed: EventFeed | None = None
        self.refs: dict[str, str] = {}
        self.clock = LocalClock()  # POST /_local/clock moves it, for the service and the sandboxes
        self.scanner = ScannerLoop(self._log, scan_seconds, self.clock.now)
        self.events_seconds = events_seconds
        self.events_url = events_url
        self.at_risk_section: AtRiskSection | None = None  # the console's at-risk table; None: console's own
        self._stopping = threading.Event()
        self._request = threading.local()  # who the request this thread answers came from, for its log line

    # -- what it is ------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def now(self) -> int:
        """The local stack's time: wall time, moved forward by POST /_local/clock (the sandboxes' clock too)."""
        return self.clock.now()

    @property
    def last_scan(self) -> dict[str, Any] | None:
        """The latest scanner run (when, and what it did or why it failed), as GET /_local/clock tells it."""
        return self.scanner.last_scan

    @property
    def scan_seconds(self) -> float:
        return self.scanner.seconds

    @property
    def aws_endpoint_url(self) -> str:
        return self._aws.endpoint_url

    @property
    def auth_mode(self) -> str:
        return str(cfn.resolve({"Ref": "AuthMode"}, self.template, self.refs))

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
        return str(cfn.resolve({"Ref": "SendGridRegion"}, self.template, {**pseudo_refs(), **self.parameters}))

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

    # -- the functions' environment -----------------------------------------------------------------------------
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
        refs = {**pseudo_refs(), **self.parameters}
        return {
            key: str(cfn.resolve(value, self.template, refs))
            for key, value in variables.items()
            if key.startswith("POWERTOOLS_")
        }

    # -- its AWS (moto) ----------------------------------------------------------------------------------------------
    def aws(self) -> boto3.session.Session:
        """A boto3 session on the local stack's moto (for the runner itself, the tests and the token command)."""
        return self._aws.session()

    def aws_client(self, service: str) -> Any:
        return self._aws.client(service)

    def aws_resource(self, service: str) -> Any:
        return self._aws.resource(service)

    # -- start and stop ----------------------------------------------------------------------------------------------
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
        server = self.bind()._server
        assert server is not None
        self._aws.start()
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
        self.refs = {**pseudo_refs(), **self.parameters}
        self.refs.update(self._aws.create_resources(self.template, self.refs, self.secret_string()))
        functions = LocalFunctions(self.template, self.refs, self.function_environment)
        self._api = TemplateApi(functions.routes(), self.caller_arn, LOCAL_REGION)
        self.scanner.scanners = functions.scanners()
        pipe = table_pipe(
            self.template,
            self.aws_client("dynamodb"),
            self._aws.client("dynamodbstreams", config=STREAMS_CLIENT_CONFIG),
            self.aws_client("events"),
            self.refs["BatchesTable"],
            self.refs["EventBus"],
        )
        tap = EventTap.attach(
            self.aws_client("sqs"),
            self.aws_client("events"),
            self.refs["EventBus"],
            f"{LOCAL_STACK_NAME}-local-events",
            self._log,
            self.events_url,
            LOCAL_ACCOUNT_ID,
        )
        self._feed = EventFeed(pipe, tap, self._log, self.events_seconds)
        self._controls = LocalControls(
            self.clock,
            self.scanner,
            self._feed,
            self._log,
            self._describe_stack,
            self.console_view,
            lambda: self.at_risk_section,
        )
        server.start()
        self.scanner.start(self._stopping)
        self._feed.start(self._stopping)
        return self

    def stop(self) -> None:
        """Undo `start()`; once (a second call does nothing)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.scanner.join()
        if self._feed:
            self._feed.join()
        self.clock.reset()
        if self._server:
            self._server.stop()
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        self._aws.stop()

    # -- what it does ------------------------------------------------------------------------------------------------
    @property
    def _routes(self) -> list[LoadedRoute]:
        """The loaded routes (tests wrap a handler in them)."""
        return self._api.routes if self._api else []

    def scan_now(self) -> list[Any]:
        """Run every scheduled function once with a scheduled event, as EventBridge would."""
        return self.scanner.scan_now()

    def scanning(self) -> bool:
        """Whether the calling thread is running a scan."""
        return self.scanner.scanning()

    def scan_and_report(self) -> dict[str, Any]:
        return self.scanner.scan_and_report()

    def collect_events(self) -> list[dict[str, Any]]:
        """What reached the bus since the last look: the change events the template's pipe makes of the table's
        stream are put on the bus first, then every event of the bus is read (kept, printed, forwarded)."""
        assert self._feed is not None
        return self._feed.collect()

    def move_clock(self, seconds: float) -> None:
        """Move the local stack's time forward by `seconds`: every function's clock and both sandboxes'."""
        self.clock.move(seconds)

    def advance(self, body: Any) -> dict[str, Any]:
        """POST /_local/clock's work: move time, scan once, answer what the scan did and published."""
        assert self._controls is not None
        return self._controls.advance(body)

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
        assert self._feed is not None
        self._feed.collect()
        held: dict[str, dict[str, str]] | None = None
        if self.sandboxes:
            held = {}
            for sandbox in self.sandboxes.values():
                for name, statuses in sandbox.held().items():
                    held.setdefault(name or "parent", {}).update(statuses)
        events = self._feed.tap.events()[-LATEST_EVENTS:][::-1]
        return read_console(LOCAL_STACK_NAME, self.now(), self.batch_rows(), self.account_region, held, events)

    def _describe_stack(self) -> dict[str, Any]:
        """The local stack as `describe-stacks` would show it, plus where its AWS (moto) answers."""
        return {
            "StackName": LOCAL_STACK_NAME,
            "Region": LOCAL_REGION,
            "AwsEndpointUrl": self.aws_endpoint_url,
            "SendGridUrls": {"global": self.sendgrid_url, "eu": self.sendgrid_eu_url},  # the sandboxes, by region
            "Parameters": self.parameters,
            "Outputs": {**cfn.outputs(self.template, self.refs), "ApiUrl": self.url},
        }

    def _log_answer(self, method: str, path: str, status: int, elapsed_ms: float) -> None:
        """One short line per request: method, path, status, milliseconds and who called (when a route ran)."""
        caller = getattr(self._request, "caller", None)
        self._request.caller = None
        by = f" by {caller_label(caller)}" if caller else ""
        self._log(f"{request_label(method, path)} {status} {elapsed_ms:.1f}ms{by}")

    def dispatch(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        """The local controls' answer, else the template route's (proxy event, authorizer, handler)."""
        assert self._controls is not None and self._api is not None
        self._request.caller = None
        parts = urlsplit(raw_path)
        controlled = self._controls.answer(method, parts, body)
        if controlled is not None:
            return controlled
        answer, self._request.caller = self._api.answer(method, parts, headers, body)
        return answer
