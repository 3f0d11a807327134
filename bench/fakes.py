"""The world a scenario runs in: AWS calls counted, a canned SendGrid on loopback, moto with the template's
table, bus and secret, and a UDP socket where the X-Ray daemon would listen.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from bench.common import BATCH


class AwsCalls:
    """Counts every AWS API call made in this process, by 'service.Operation'."""

    def __init__(self) -> None:
        import botocore.client

        self.counts: Counter[str] = Counter()
        # Time spent inside the calls (moto here, not real DynamoDB), by service and by call.
        self.seconds: defaultdict[str, float] = defaultdict(float)
        original = botocore.client.BaseClient._make_api_call
        counts, seconds = self.counts, self.seconds

        def counting(client: Any, operation_name: str, api_params: Any) -> Any:
            # Timed from the first line: the counting itself is the bench's work, not the caller's.
            started = time.perf_counter()
            service = client.meta.service_model.service_name
            key = f"{service}.{operation_name}"
            counts[key] += 1
            try:
                return original(client, operation_name, api_params)
            finally:
                elapsed = time.perf_counter() - started
                seconds[service] += elapsed
                seconds[key] += elapsed

        botocore.client.BaseClient._make_api_call = counting

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)


def canned_sendgrid() -> Any:
    """A stateless SendGrid on loopback answering each operation as SendGrid does, with fresh batch ids."""
    from local.http import LoopbackServer

    issued = iter(range(10**9))

    def dispatch(method: str, path: str, headers: list[tuple[str, str]], body: bytes):
        json_headers = {"Content-Type": "application/json"}
        if method == "POST" and path == "/v3/mail/batch":
            return 201, json_headers, json.dumps({"batch_id": f"Bench{next(issued):027d}"}).encode()
        if method == "POST":
            return 201, json_headers, body
        if method in ("PATCH", "DELETE"):
            return 204, {}, b""
        if path.startswith("/v3/mail/batch/"):
            return 200, json_headers, json.dumps({"batch_id": path.rsplit("/", 1)[1]}).encode()
        if path == "/v3/user/scheduled_sends":
            return 200, json_headers, json.dumps([{"batch_id": BATCH, "status": "pause"}]).encode()
        return 200, json_headers, json.dumps([{"batch_id": path.rsplit("/", 1)[1], "status": "pause"}]).encode()

    server = LoopbackServer("127.0.0.1", 0, dispatch, name="bench-sendgrid")
    server.start()
    return server


def _create_world(api_key: str) -> None:
    """The template's batches table, the bus and the secret, in whichever moto the clients reach."""
    import boto3

    from local.template import create_table, load_template

    table = load_template()["Resources"]["BatchesTable"]["Properties"]
    create_table(boto3.client("dynamodb"), "batches", table)
    boto3.client("events").create_event_bus(Name="bench-events")
    arn = boto3.client("secretsmanager").create_secret(Name="bench-key", SecretString=api_key)["ARN"]
    os.environ["SENDGRID_SECRET_ARN"] = arn


@contextlib.contextmanager
def aws_world(api_key: str) -> Iterator[None]:
    """moto in-process with the template's table, the bus and the secret."""
    from moto import mock_aws

    with mock_aws():
        _create_world(api_key)
        yield


class XRayDaemon:
    """A UDP socket where the X-Ray daemon would listen: keeps every segment document sent to it."""

    def __init__(self) -> None:
        import socket
        import threading

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.documents: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="bench-xray", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self._socket.recv(65536)
            except TimeoutError:
                continue
            _header, _, document = datagram.decode().partition("\n")
            self.documents.append(json.loads(document))

    def subsegments(self, trace_id: str) -> list[dict[str, Any]]:
        """Every subsegment of the trace, nested ones included."""
        found: list[dict[str, Any]] = []
        pending = [d for d in self.documents if d.get("trace_id") == trace_id]
        while pending:
            document = pending.pop()
            found.append(document)
            pending.extend(document.get("subsegments", ()))
        return found

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


def trace_header() -> tuple[str, str]:
    """A sampled X-Ray trace header, as Lambda sets it for an invocation API Gateway traced (the worst case:
    every subsegment is recorded and sent)."""
    import secrets

    trace_id = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return trace_id, f"Root={trace_id};Parent={secrets.token_hex(8)};Sampled=1"
