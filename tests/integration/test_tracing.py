"""Tracing as Lambda runs it: a handler in a fresh interpreter with Lambda's environment (LAMBDA_TASK_ROOT, a
sampled _X_AMZN_TRACE_ID, tracing not disabled) sends X-Ray subsegments for its SendGrid call and its DynamoDB
calls to the daemon address, here a UDP socket of the test's. X-Ray patches botocore; the SendGrid adapter
records its own calls."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local import template as cfn
from local.events import proxy_event
from local.server import LocalService
from tests.support import CALLER_ARN, CANARY_KEY, ROOT

CHILD = """
import json, sys
import app
from local.events import LocalLambdaContext
answer = app.lambda_handler(json.loads(sys.stdin.read()), LocalLambdaContext(function_name="create_batch_id"))
sys.stderr.write("ANSWER " + json.dumps(answer) + "\\n")
"""


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """Where the X-Ray SDK sends its documents (AWS_XRAY_DAEMON_ADDRESS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.5)
        yield udp


def received(udp: socket.socket) -> list[dict[str, Any]]:
    documents = []
    while True:
        try:
            datagram = udp.recv(65536).decode()
        except TimeoutError:
            return documents
        header, _, body = datagram.partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def flattened(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found, pending = [], list(documents)
    while pending:
        document = pending.pop()
        found.append(document)
        pending.extend(document.get("subsegments", ()))
    return found


def test_a_traced_invocation_sends_subsegments_for_sendgrid_and_dynamodb(
    start_local_service: Callable[..., LocalService], daemon: socket.socket
) -> None:
    service = start_local_service()
    route = next(r for r in cfn.routes(service.template) if r.code_dir.name == "create_batch_id")
    trace_id = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    environment = {
        **service.function_environment(route.function),
        "PATH": "/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": str(route.code_dir),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "create_batch_id",
        "_HANDLER": "app.lambda_handler",
        "_X_AMZN_TRACE_ID": f"Root={trace_id};Parent={secrets.token_hex(8)};Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:%d" % daemon.getsockname()[1],
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "POWERTOOLS_TRACE_DISABLED": "false",
    }
    event = proxy_event(
        method="POST",
        resource="/mail/batch",
        path="/mail/batch",
        headers=[("Content-Type", "application/json")],
        body=None,
        caller_arn=CALLER_ARN,
    )
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        # Lambda's import path: the function's code, then the layer (/opt/python); `local` is installed (editable).
        env={**environment, "PYTHONPATH": os.pathsep.join([str(route.code_dir), str(ROOT / "layers" / "shared")])},
        cwd=route.code_dir,
        timeout=120,
    )
    answer = next(line for line in result.stderr.splitlines() if line.startswith("ANSWER "))
    assert json.loads(answer.removeprefix("ANSWER "))["statusCode"] == 201, result.stderr

    documents = received(daemon)
    text = json.dumps(documents)
    assert CANARY_KEY not in text  # the Authorization header is never recorded
    assert all(document["trace_id"] == trace_id for document in documents)
    subsegments = flattened(documents)
    handler = [s for s in subsegments if s["name"] == "## lambda_handler"]  # Powertools' handler subsegment
    assert handler and handler[0]["annotations"]["ColdStart"] is True
    sendgrid = [s for s in subsegments if s.get("namespace") == "remote"]
    assert [s["http"]["request"]["url"] for s in sendgrid] == [f"{service.sendgrid_url}/v3/mail/batch"]
    assert sendgrid[0]["http"]["request"]["method"] == "POST"
    assert sendgrid[0]["http"]["response"]["status"] == 201
    dynamodb = [s for s in subsegments if s.get("namespace") == "aws" and s["name"] == "dynamodb"]
    assert {s["aws"]["operation"] for s in dynamodb} == {"UpdateItem"}  # the batch row and the accounts registry
    assert {s["aws"]["table_name"] for s in dynamodb} == {service.refs["BatchesTable"]}
    assert {s["name"] for s in subsegments if s.get("namespace") == "aws"} == {"dynamodb", "secretsmanager"}
