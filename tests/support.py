"""Helpers shared by the test suites: loading a deployed handler and invoking it with a real event shape."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from local.events import LocalLambdaContext, proxy_event

ROOT = Path(__file__).resolve().parent.parent
# The whole suite runs with this canary as the SendGrid key; conftest fails any test whose output,
# logs, metrics, events or responses contain it.
CANARY_KEY = f"SG.canary-{secrets.token_urlsafe(24)}"
RESPONSES: list[Any] = []  # every answer a test received, checked for the canary after each test
CALLER_ARN = "arn:aws:iam::111122223333:user/team-a"

# operation folder -> (method, API Gateway resource path)
OPERATIONS: dict[str, tuple[str, str]] = {
    "create_batch_id": ("POST", "/mail/batch"),
    "validate_batch_id": ("GET", "/mail/batch/{batch_id}"),
    "list_scheduled_sends": ("GET", "/user/scheduled_sends"),
    "pause_or_cancel": ("POST", "/user/scheduled_sends"),
    "get_scheduled_send": ("GET", "/user/scheduled_sends/{batch_id}"),
    "update_scheduled_send": ("PATCH", "/user/scheduled_sends/{batch_id}"),
    "resume_scheduled_send": ("DELETE", "/user/scheduled_sends/{batch_id}"),
}
# The on-call routes (admins only, answered from the table): operation folder -> (method, resource path)
OPS_OPERATIONS: dict[str, tuple[str, str]] = {
    "ops_list_batches": ("GET", "/ops/batches"),
    "ops_get_batch": ("GET", "/ops/batches/{batch_id}"),
}


def load_handler(operation: str) -> Any:
    name = f"handler_under_test_{operation}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / operation / "app.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].lambda_handler


def invoke(
    operation: str,
    *,
    batch_id: str | None = None,
    body: str | bytes | dict[str, Any] | None = None,
    headers: list[tuple[str, str]] | None = None,
    caller_arn: str = CALLER_ARN,
    authorizer: dict[str, Any] | None = None,
    request_id: str | None = None,
    query: str = "",
) -> dict[str, Any]:
    """Invoke one handler in-process with the API Gateway proxy event AWS would send: signed by
    `caller_arn` (AuthMode=IAM), or let through by the team-token authorizer with its `authorizer` context."""
    method, resource = {**OPERATIONS, **OPS_OPERATIONS}[operation]
    path = resource.replace("{batch_id}", batch_id) if batch_id is not None else resource
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    headers = headers if headers is not None else [("Content-Type", "application/json")]
    event = proxy_event(
        method=method,
        resource=resource,
        path=path,
        path_parameters={"batch_id": batch_id} if batch_id is not None else None,
        headers=headers,
        body=body,
        caller_arn=None if authorizer else caller_arn,
        request_id=request_id,
        query=query,
    )
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer
    response = load_handler(operation)(event, LocalLambdaContext(function_name=operation))
    RESPONSES.append(response)
    return response


def error_of(response: dict[str, Any]) -> dict[str, Any]:
    """The single SendGrid-style error of a response, asserting the shape."""
    document = json.loads(response["body"])
    assert set(document) == {"errors"}, document
    assert len(document["errors"]) == 1
    error = document["errors"][0]
    assert set(error) == {"field", "message"}
    assert isinstance(error["message"], str) and error["message"]
    return error


BASE_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "scheduled-sends",
    "POWERTOOLS_METRICS_NAMESPACE": "ScheduledSends",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "SERVICE_VERSION": "9.8.7-test",
    "SENDGRID_CONNECT_TIMEOUT_SECONDS": "1",
    "SENDGRID_READ_TIMEOUT_SECONDS": "0.5",
    "SENDGRID_BACKOFF_BASE_SECONDS": "0.01",
    "SENDGRID_BACKOFF_CAP_SECONDS": "0.05",
}


def apply_base_environment(monkeypatch: Any) -> None:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in BASE_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    assert os.environ["POWERTOOLS_TRACE_DISABLED"] == "true"


def event_schemas() -> dict[str, dict[str, Any]]:
    """detail-type -> JSON Schema of every event on the bus (schemas/events/): the scanner's and the changes'."""
    schemas = [json.loads(p.read_text()) for p in sorted((ROOT / "schemas" / "events").glob("*.schema.json"))]
    return {schema["title"]: schema for schema in schemas}


def assert_matches_its_schema(event: dict[str, Any]) -> None:
    import jsonschema

    schema = event_schemas()[event["detail-type"]]
    jsonschema.Draft202012Validator(schema).validate(event)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_python_m_local(
    *arguments: str, environment: dict[str, str] | None = None, port: int | None = None
) -> tuple[subprocess.Popen[str], int, str]:
    """`python -m local` on a free port, as `make run` starts it: the process, its port and its banner. It says
    where it listens in a state file of its own (LOCAL_SERVER_STATE), never in the one of a developer's `make run`."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENDGRID_", "POWERTOOLS_"))}
    env["LOCAL_SERVER_STATE"] = str(Path(tempfile.mkdtemp()) / "local-server.json")
    env.update(environment or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--port", str(port), *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        banner.append(line)
        if "Ctrl-C stops" in line or not line:
            break
    return process, port, "".join(banner)


# The scanner's Lambda timeout in template.yaml (300 s): its runs take new work until 30 s before it.
SCANNER_TIMEOUT_MS = 300_000


def run_cli(*arguments: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`scheduled-sends ...` as a separate process from the repo root, as an operator runs it (`python -m`: the
    layer package on the path, as the installed console script has it)."""
    env = {**os.environ, **(environment or {})}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "layers" / "shared"), str(ROOT), env.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-m", "scheduled_sends_cli", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


class VirtualTime:
    """Monotonic time that moves only when something sleeps: retries are timed, never waited for, and a deadline
    passes only when the code under test waits it out (never because the machine is slow)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def start_example(env: dict[str, Any], start: int) -> None:
    """A stateful property test's fresh world for its next example: the clock at `start`, the sandbox emptied, on
    that clock and issuing the same ids as in every run, the batches table emptied, a new container, and the events
    of earlier examples drained."""
    import boto3

    from local.container import reset_container

    env["clock"].now = start
    env["sandbox"].reset()
    env["sandbox"].clock = env["clock"]
    env["sandbox"].seed_ids(start)
    table = boto3.resource("dynamodb").Table("batches")
    for item in table.scan()["Items"]:
        table.delete_item(Key={"account": item["account"], "batch_id": item["batch_id"]})
    reset_container()
    env["drain"]()
