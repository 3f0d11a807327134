"""`make bench`: what the service adds to a SendGrid round trip, as ratios within one run.

Writes bench-results.json (or --out) and prints a table. --quick runs tiny sizes (used by a smoke test).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.scanner_accounts import print_scanner_accounts, scanner_accounts
from local.container import reset_container

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "shared"

CALLER = "arn:aws:iam::111122223333:user/bench-team"
BATCH = "BenchBatch0000000000000000000001"
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "scheduled-sends",
    "POWERTOOLS_METRICS_NAMESPACE": "ScheduledSends",
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here; the SDK is still imported and initialised
    "BATCHES_TABLE_NAME": "batches",
    "EVENT_BUS_NAME": "bench-events",
}
OPERATIONS = {  # function folder -> (method, resource, caller body)
    "create_batch_id": ("POST", "/mail/batch", None),
    "validate_batch_id": ("GET", "/mail/batch/{batch_id}", None),
    "list_scheduled_sends": ("GET", "/user/scheduled_sends", None),
    "pause_or_cancel": ("POST", "/user/scheduled_sends", {"batch_id": BATCH, "status": "pause"}),
    "get_scheduled_send": ("GET", "/user/scheduled_sends/{batch_id}", None),
    "update_scheduled_send": ("PATCH", "/user/scheduled_sends/{batch_id}", {"status": "pause"}),
    "resume_scheduled_send": ("DELETE", "/user/scheduled_sends/{batch_id}", None),
}


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 3),
        "n": len(ordered),
    }


class AwsCalls:
    """Counts every AWS API call made in this process, by 'service.Operation'."""

    def __init__(self) -> None:
        import botocore.client

        self.counts: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(
            float
        )  # time spent inside the calls (moto here, not real DynamoDB)
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


def handler_of(function: str) -> Callable[[dict, Any], dict]:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{function}", ROOT / "functions" / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def event_for(function: str) -> dict:
    from local.events import proxy_event

    method, resource, body = OPERATIONS[function]
    return proxy_event(
        method=method,
        resource=resource,
        path=resource.replace("{batch_id}", BATCH),
        path_parameters={"batch_id": BATCH} if "{batch_id}" in resource else None,
        headers=[("Content-Type", "application/json")],
        body=json.dumps(body).encode() if body else None,
        caller_arn=CALLER,
    )


def interleaved(
    repetitions: int, subject: Callable[[], Any], *baselines: Callable[[], Any]
) -> tuple[Any, list[float], list[float]]:
    """Time `subject` and each baseline in turn, so machine noise hits them alike: the subject's last answer,
    its seconds and the first baseline's (a later baseline keeps its own figures, e.g. without table calls).

    The baselines run in their order in even repetitions and in reverse in odd ones, so that no call always
    follows the same one: a call runs faster right after a call of the same code (its code and data are still in
    the CPU's caches), and with a fixed order the reference handler always ran right after the bare `requests`
    call, its own code path, while the subject always ran after the reference. With warm_overhead's two baselines
    (the bare call, then the reference), the subject and the reference both follow the bare call in even
    repetitions, and each follows the other in odd ones (`by_order` gives the ratio of each half)."""
    answer, subject_times = None, []
    baseline_times: list[list[float]] = [[] for _ in baselines]
    pairs = list(zip(baselines, baseline_times, strict=True))
    for repetition in range(repetitions):
        started = time.perf_counter()
        answer = subject()
        subject_times.append(time.perf_counter() - started)
        for baseline, times in pairs if repetition % 2 == 0 else reversed(pairs):
            started = time.perf_counter()
            baseline()
            times.append(time.perf_counter() - started)
    return answer, subject_times, baseline_times[0]


def by_order(subject_times: list[float], reference_times: list[float]) -> dict[str, float]:
    """The subject/reference median ratio of `interleaved`'s even and odd repetitions apart, where the reference
    is the last baseline: how much the order of the calls moves the ratio (the overall ratio takes both)."""

    def ratio(start: int) -> float:
        return round(statistics.median(subject_times[start::2]) / statistics.median(reference_times[start::2]), 2)

    return {"both_after_the_bare_call": ratio(0), "each_after_the_other": ratio(1)}


def reference_handler(sendgrid_url: str, api_key: str) -> Callable[[dict, Any], dict]:
    """bench/reference/app.py loaded in this process (inside moto)."""
    import importlib.util

    os.environ.update({"SENDGRID_API_BASE_URL": sendgrid_url, "SENDGRID_API_KEY": api_key})
    spec = importlib.util.spec_from_file_location("bench_reference", REFERENCE / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def warm_overhead(repetitions: int, calls: AwsCalls) -> dict[str, Any]:
    """Each handler in-process against the loopback SendGrid versus the hand-written reference handler
    (bench/reference: one GetItem, one `requests` call) and a bare requests.Session call of the same method and
    path, interleaved so machine noise hits all alike. "Without table": each request's time less the time of
    its own DynamoDB calls (in moto), then the median."""
    import requests

    from local.events import LocalLambdaContext
    from scheduled_sends.adapters.batches_table import batch_store
    from scheduled_sends.domain.rules import Batch

    api_key = "SG.bench-key"
    sendgrid = canned_sendgrid()
    os.environ["SENDGRID_API_BASE_URL"] = sendgrid.url
    results: dict[str, Any] = {}
    try:
        with aws_world(api_key):
            reset_container()
            owned = Batch("parent", BATCH, CALLER, status="pause")  # paused: list finds it in the active index
            batch_store().change("parent", BATCH, lambda _c: owned, int(time.time()))
            bare = requests.Session()
            reference = reference_handler(sendgrid.url, api_key)
            for function, (method, resource, body) in OPERATIONS.items():
                handler, event = handler_of(function), event_for(function)
                context = LocalLambdaContext(function_name=function)
                url = sendgrid.url + "/v3" + resource.replace("{batch_id}", BATCH)
                data = json.dumps(body).encode() if body else None
                headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
                for _ in range(20):  # warm: imports, clients, the secret cache, keep-alive connections
                    handler(event, context)
                    reference(event, context)
                    bare.request(method, url, headers=headers, data=data)
                before = calls.snapshot()
                own_times: list[float] = []  # each request's time less the time inside its table calls
                reference_times: list[float] = []  # the same for the reference
                table_seconds = [0.0]  # inside our table calls

                def subject(
                    h: Any = handler,
                    e: dict = event,
                    c: Any = context,
                    own: list = own_times,
                    spent: list = table_seconds,
                ) -> Any:
                    table_before, started = calls.seconds["dynamodb"], time.perf_counter()
                    answer = h(e, c)
                    in_table = calls.seconds["dynamodb"] - table_before
                    own.append(time.perf_counter() - started - in_table)
                    spent[0] += in_table
                    return answer

                def bare_call(
                    m: str = method, u: str = url, h: dict[str, str] = headers, d: bytes | None = data
                ) -> Any:
                    return bare.request(m, u, headers=h, data=d)

                def by_hand(e: dict = event, c: Any = context, own: list = reference_times) -> None:
                    table_before, started = calls.seconds["dynamodb"], time.perf_counter()
                    answer = reference(e, c)
                    own.append(time.perf_counter() - started - (calls.seconds["dynamodb"] - table_before))
                    assert answer["statusCode"] < 300, answer

                answer, handler_times, bare_times = interleaved(
                    repetitions,
                    subject,
                    bare_call,
                    by_hand,
                )
                assert answer["statusCode"] < 300, answer
                delta = calls.snapshot() - before
                delta["dynamodb.GetItem"] -= repetitions  # the reference's one GetItem per request
                dynamodb = {
                    k.split(".", 1)[1]: round(v / repetitions, 2)
                    for k, v in delta.items()
                    if k.startswith("dynamodb.") and v > 0
                }
                handler_stats, bare_stats = summary(handler_times), summary(bare_times)
                # Per request: its time less its own table calls' time (in moto here), then the median.
                without_table, reference_stats = summary(own_times), summary(reference_times)
                results[function] = {
                    "handler": handler_stats,
                    "bare_requests": bare_stats,
                    "ratio_median": round(handler_stats["median_ms"] / bare_stats["median_ms"], 2),
                    "dynamodb_ms_per_request_in_moto": round(table_seconds[0] / repetitions * 1000, 3),
                    "handler_without_dynamodb": without_table,
                    "ratio_median_without_dynamodb": round(without_table["median_ms"] / bare_stats["median_ms"], 2),
                    "reference_without_dynamodb": reference_stats,
                    "ratio_vs_reference_without_dynamodb": round(
                        without_table["median_ms"] / reference_stats["median_ms"], 2
                    ),
                    "ratio_vs_reference_without_dynamodb_by_order": by_order(own_times, reference_times),
                    "dynamodb_calls_per_request": dynamodb,
                    "dynamodb_calls_total_per_request": round(sum(dynamodb.values()), 2),
                }
    finally:
        sendgrid.stop()
    return results


def secret_reads(invocations: int, calls: AwsCalls) -> dict[str, Any]:
    from local.events import LocalLambdaContext

    sendgrid = canned_sendgrid()
    os.environ["SENDGRID_API_BASE_URL"] = sendgrid.url
    try:
        with aws_world("SG.bench-key"):
            reset_container()  # a fresh container
            handler, event = handler_of("list_scheduled_sends"), event_for("list_scheduled_sends")
            before = calls.snapshot()
            started = time.perf_counter()
            for _ in range(invocations):
                handler(event, LocalLambdaContext(function_name="list"))
            elapsed = time.perf_counter() - started
            reads = (calls.snapshot() - before)["secretsmanager.GetSecretValue"]
    finally:
        sendgrid.stop()
    return {"invocations": invocations, "secret_reads": reads, "elapsed_s": round(elapsed, 2), "cache_period_s": 300}


COLD_CHILD = Path(__file__).resolve().parent / "cold_request.py"
AWS_OR_HTTP = ("aws", "remote")  # X-Ray subsegment namespaces: an AWS SDK call, an HTTP call
REFERENCE = Path(__file__).resolve().parent / "reference"


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


def lambda_environment(function: str, code_dir: Path, aws_endpoint_url: str, xray_address: str) -> dict[str, str]:
    """What Lambda's python3.13 runtime sets for a function (before the template's own variables)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONDONTWRITEBYTECODE": "1",  # code and layers are read-only on Lambda: no .pyc is ever written there
        "LAMBDA_TASK_ROOT": str(code_dir),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": "app.lambda_handler",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",  # not restored from a SnapStart snapshot: the worst case
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_XRAY_DAEMON_ADDRESS": xray_address,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_ENDPOINT_URL": aws_endpoint_url,  # the emulator: a moto server in this process's thread
    }


def built_layer(workdir: Path, bytecode: bool = True) -> Path:
    """The layer's /opt/python as `sam build` makes it (layers/shared/Makefile): this package compiled to
    hash-based .pyc files that are never checked against the source, and botocore with only the models of the
    services the code calls (aws-services.txt). Its other requirements are the ones installed here, with the
    bytecode pip compiled at install (the Makefile compiles the layer's copies the same way).
    `bytecode=False`: source only, as SAM's python3.13 build method shipped it."""
    import compileall
    import py_compile
    import shutil

    import botocore

    layer = workdir / "opt-python"
    shutil.rmtree(layer, ignore_errors=True)
    shutil.copytree(LAYER / "scheduled_sends", layer / "scheduled_sends", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(Path(botocore.__file__).parent, layer / "botocore", ignore=shutil.ignore_patterns("__pycache__"))
    prune = [sys.executable, str(LAYER / "prune_botocore.py"), str(LAYER / "aws-services.txt")]
    subprocess.run([*prune, str(layer / "botocore" / "data")], check=True)  # as the Makefile runs it
    if bytecode:
        compileall.compile_dir(
            layer, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH, workers=1
        )
    return layer


def run_cold(
    environment: dict[str, str], event: dict[str, Any], workdir: Path, layer: Path | None, profile: bool = False
) -> dict:
    """One fresh interpreter: import the handler, answer `event`; its timings (and the -X importtime trace).
    `layer`: the /opt/python of the function (None: no layer, as the reference has)."""
    spec, out = workdir / "spec.json", workdir / "out.json"
    layers = [str(layer)] if layer else []
    spec.write_text(json.dumps({"event": event, "out": str(out), "layers": layers}))
    command = [sys.executable, *(["-X", "importtime"] if profile else []), str(COLD_CHILD), str(spec)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=workdir, check=False)
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"cold request failed ({result.returncode}): {result.stderr[-2000:]}")
    timings = json.loads(out.read_text())
    out.unlink()
    return {**timings, "importtime": result.stderr if profile else ""}


def heaviest(importtime: str, top: int = 10) -> list[dict[str, Any]]:
    """Self import time by top-level package, from a `-X importtime` trace."""
    by_package: Counter[str] = Counter()
    for line in importtime.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            by_package[name.split(".")[0]] += int(self_us)
    return [{"package": name, "self_ms": round(us / 1000, 1)} for name, us in by_package.most_common(top)]


def cold_requests(rounds: int, layer_given: Path | None = None, bytecode: bool = True) -> dict[str, Any]:
    """Each API function's first request in a fresh interpreter with Lambda's environment (tracing on, a
    sampled trace, SnapStart off), against the hand-written reference handler (bench/reference) answering the
    same event: same SendGrid (loopback), same AWS (a moto server reached through AWS_ENDPOINT_URL). Pairs
    alternate which goes first; medians over the rounds."""
    import tempfile

    from local import template as cfn
    from local.server import LocalService
    from scheduled_sends.adapters.batches_table import BatchStore
    from scheduled_sends.domain.rules import Batch

    api_key = "SG.bench-key"
    sendgrid = canned_sendgrid()
    xray = XRayDaemon()
    service = LocalService(
        port=0, log=lambda line: None, scan_seconds=0, sendgrid_base_url=sendgrid.url, sendgrid_api_key=api_key
    ).start()
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}  # (function, "service"|"reference") -> timings
    traced: dict[str, list[str]] = {}
    try:
        store = BatchStore(service.aws_resource("dynamodb").Table(service.refs["BatchesTable"]), 8, (), 1800)
        owned = Batch("parent", BATCH, CALLER, status="pause")
        routes = {route.code_dir.name: route for route in cfn.routes(service.template)}
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as scratch:
            workdir = Path(scratch)
            layer = layer_given or built_layer(workdir, bytecode)

            def environment_of(function: str, code_dir: Path, trace: str) -> dict[str, str]:
                template_variables = service.function_environment(routes[function].function)
                for local_only in ("POWERTOOLS_TRACE_DISABLED", "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME"):
                    template_variables.pop(local_only, None)
                return {
                    **lambda_environment(function, code_dir, service.aws_endpoint_url, xray.address),
                    **template_variables,
                    "_X_AMZN_TRACE_ID": trace,
                    "SENDGRID_API_KEY": api_key,  # only the reference reads it; ours reads Secrets Manager
                }

            for round_number in range(rounds):
                for function in OPERATIONS:
                    event = event_for(function)
                    trace_id, trace = trace_header()
                    pair = [
                        ("service", environment_of(function, routes[function].code_dir, trace)),
                        ("reference", environment_of(function, REFERENCE, trace_header()[1])),
                    ]
                    for which, environment in pair if round_number % 2 == 0 else pair[::-1]:
                        store.change("parent", BATCH, lambda _current: owned, int(time.time()))  # same row each run
                        timings = run_cold(environment, event, workdir, layer if which == "service" else None)
                        assert timings["answer"]["statusCode"] < 300, (function, which, timings["answer"])
                        runs.setdefault((function, which), []).append(timings)
                    time.sleep(0.05)  # the X-Ray documents are UDP datagrams: let them arrive
                    subsegments = xray.subsegments(trace_id)
                    traced[function] = sorted({s["name"] for s in subsegments if s.get("namespace") in AWS_OR_HTTP})
                    aws = [s for s in subsegments if s.get("namespace") == "aws"]
                    runs[(function, "service")][-1]["aws_calls"] = len(aws)
                    runs[(function, "service")][-1]["aws_calls_s"] = sum(s["end_time"] - s["start_time"] for s in aws)
            profile = run_cold(
                environment_of("pause_or_cancel", routes["pause_or_cancel"].code_dir, trace_header()[1]),
                event_for("pause_or_cancel"),
                workdir,
                layer,
                profile=True,
            )
    finally:
        service.stop()
        xray.stop()
        sendgrid.stop()

    def median_ms(function: str, which: str, *keys: str) -> float:
        return statistics.median(sum(run[key] for key in keys) for run in runs[(function, which)]) * 1000

    functions = {}
    for function in OPERATIONS:
        row: dict[str, Any] = {}
        for which in ("service", "reference"):
            row[f"{which}_import_ms"] = round(median_ms(function, which, "import_s"), 1)
            row[f"{which}_first_request_ms"] = round(median_ms(function, which, "first_request_s"), 1)
            row[f"{which}_total_ms"] = round(median_ms(function, which, "import_s", "first_request_s"), 1)
            row[f"{which}_total_cpu_ms"] = round(median_ms(function, which, "import_cpu_s", "first_request_cpu_s"), 1)
        for part in ("import", "first_request", "total", "total_cpu"):
            row[f"ratio_{part}"] = round(row[f"service_{part}_ms"] / row[f"reference_{part}_ms"], 2)
        # Each round's pair (run back to back) as a ratio, then the median: slow drifts in the machine's load
        # cancel within a pair.
        pairs = zip(runs[(function, "service")], runs[(function, "reference")], strict=True)
        row["ratio_total_paired_median"] = round(
            statistics.median(
                (ours["import_s"] + ours["first_request_s"]) / (theirs["import_s"] + theirs["first_request_s"])
                for ours, theirs in pairs
            ),
            2,
        )
        row["service_aws_calls"] = runs[(function, "service")][-1].get("aws_calls")
        row["service_aws_calls_ms"] = round(median_ms(function, "service", "aws_calls_s"), 1)
        row["traced_subsegments"] = traced.get(function, [])
        functions[function] = row
    return {
        "rounds": rounds,
        "snapstart": False,
        "layer": str(layer_given)
        if layer_given
        else ("bytecode, as layers/shared/Makefile builds it" if bytecode else "source only"),
        "functions": functions,
        "heaviest_imports_pause_or_cancel": heaviest(profile["importtime"]),
    }


def scanner_scaling(sizes: list[int], due: int, calls: AwsCalls) -> dict[str, Any]:
    import boto3

    from scheduled_sends.app.scanner import run_scan

    sendgrid = canned_sendgrid()
    os.environ["SENDGRID_API_BASE_URL"] = sendgrid.url
    now = int(time.time())
    results = {}
    try:
        for size in sizes:
            with aws_world("SG.bench-key"):
                reset_container()
                table = boto3.resource("dynamodb").Table("batches")
                started = time.perf_counter()
                with table.batch_writer() as writer:
                    for i in range(size):  # tracked, first action two days away
                        writer.put_item(
                            Item={
                                "account": "parent",
                                "batch_id": f"later-{i}",
                                "owner": CALLER,
                                "status": "pause",
                                "send_at": now + 2 * 86400,
                                "version": 1,
                                "due_shard": f"due#{i % 8}",
                                "due_at": now + 2 * 86400,
                            }
                        )
                    for i in range(due):  # due: cancelled an hour before now, only the slot to free
                        writer.put_item(
                            Item={
                                "account": "parent",
                                "batch_id": f"due-{i}",
                                "owner": CALLER,
                                "status": "cancel",
                                "send_at": now - 3600,
                                "version": 1,
                                "due_shard": f"due#{i % 8}",
                                "due_at": now - 60,
                            }
                        )
                load_s = time.perf_counter() - started
                query_before = calls.seconds["dynamodb.Query"]
                started = time.perf_counter()
                outcome = run_scan(now)
                run_s = time.perf_counter() - started
                query_s = calls.seconds["dynamodb.Query"] - query_before
                results[str(size)] = {
                    "rows_tracked": size + due,
                    "due": outcome.due,
                    "items_read": outcome.items_read,
                    "items_read_per_due": round(outcome.items_read / max(outcome.due, 1), 2),
                    "reclaimed": outcome.reclaimed,
                    "run_s": round(run_s, 3),
                    # moto answers a Query by walking the whole table in Python; DynamoDB reads only the
                    # index range. So the emulator's query time grows with the table and the rest must not.
                    "due_query_s_in_moto": round(query_s, 3),
                    "run_without_query_s": round(run_s - query_s, 3),
                    "load_s": round(load_s, 1),
                }
    finally:
        sendgrid.stop()
    return results


def authorizer_overhead(repetitions: int) -> dict[str, Any]:
    """The team-token authorizer in-process (moto DynamoDB) versus the bare GetItem it has to make."""
    import boto3

    from local.events import LocalLambdaContext
    from local.template import create_table, load_template
    from scheduled_sends.adapters.token_table import TokenStore
    from scheduled_sends.domain import tokens

    with aws_world("SG.bench-key"):
        properties = load_template()["Resources"]["TeamTokensTable"]["Properties"]
        create_table(boto3.client("dynamodb"), "bench-tokens", properties)
        os.environ["TEAM_TOKENS_TABLE_NAME"] = "bench-tokens"
        reset_container()
        table = boto3.resource("dynamodb").Table("bench-tokens")
        token, record = tokens.new_token("bench", [], now=int(time.time()))
        TokenStore(table).add(record)
        handler, context = handler_of("token_authorizer"), LocalLambdaContext(function_name="token_authorizer")
        event = {
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/v3/GET/user/scheduled_sends",
            "headers": {"Authorization": f"Bearer {token}"},
        }
        for _ in range(20):
            handler(event, context)
        answer, handler_times, bare_times = interleaved(
            repetitions,
            lambda: handler(event, context),
            lambda: table.get_item(Key={"token_id": record.token_id}, ConsistentRead=True),
        )
        assert answer["principalId"] == "team:bench", answer
    handler_stats, bare_stats = summary(handler_times), summary(bare_times)
    return {
        "authorizer": handler_stats,
        "bare_get_item": bare_stats,
        "ratio_median": round(handler_stats["median_ms"] / bare_stats["median_ms"], 2),
    }


def local_server(requests_total: int, threads: int, auth_mode: str = "IAM") -> dict[str, Any]:
    """Requests per second through the local server; in TOKEN mode each request also runs the authorizer."""
    import concurrent.futures

    import requests

    from local.server import LocalService
    from scheduled_sends.adapters.token_table import TokenStore
    from scheduled_sends.domain import tokens

    reset_container()  # the local runner's own settings, table and secret
    service = LocalService(port=0, log=lambda line: None, scan_seconds=0, parameters={"AuthMode": auth_mode}).start()
    headers = {}
    try:
        if auth_mode == "TOKEN":
            token, record = tokens.new_token("bench", [], now=int(time.time()))
            TokenStore(service.aws_resource("dynamodb").Table(service.refs["TeamTokensTable"])).add(record)
            headers = {"Authorization": f"Bearer {token}"}
        url = f"{service.url}/v3/user/scheduled_sends"

        def worker(count: int) -> list[float]:
            session, samples = requests.Session(), []
            for _ in range(count):
                started = time.perf_counter()
                answer = session.get(url, headers=headers, timeout=10)
                assert answer.status_code == 200, answer.text
                samples.append(time.perf_counter() - started)
            return samples

        worker(20)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            samples = [s for chunk in pool.map(worker, [requests_total // threads] * threads) for s in chunk]
        elapsed = time.perf_counter() - started
    finally:
        service.stop()
    return {
        "auth_mode": auth_mode,
        "requests": len(samples),
        "threads": threads,
        "rps": round(len(samples) / elapsed, 1),
        **summary(samples),
    }


def print_warm(results: dict[str, Any]) -> None:
    repetitions = results["config"]["repetitions"]
    print(
        f"\nwarm, without table calls (handler vs hand-written reference vs bare requests.Session, same loopback "
        f"SendGrid, n={repetitions})"
    )
    print(
        f"{'operation':24} {'handler med/p95 ms':>20} {'reference ms':>12} {'bare ms':>8} {'vs ref':>6} "
        f"{'vs bare':>7} {'by order':>10} {'DynamoDB calls/req':>20}"
    )
    for name, row in results["warm_overhead"].items():
        handler, order = row["handler_without_dynamodb"], row["ratio_vs_reference_without_dynamodb_by_order"]
        print(
            f"{name:24} {handler['median_ms']:>9.2f} /{handler['p95_ms']:>8.2f} "
            f"{row['reference_without_dynamodb']['median_ms']:>12.2f} {row['bare_requests']['median_ms']:>8.2f} "
            f"{row['ratio_vs_reference_without_dynamodb']:>6.2f} {row['ratio_median_without_dynamodb']:>7.2f} "
            f"{'{:.2f} {:.2f}'.format(*order.values()):>10} "
            f"{row['dynamodb_calls_total_per_request']:>8} {row['dynamodb_calls_per_request']}"
        )
    print("by order: ours / reference when both follow the bare call, and when each follows the other")


def print_secret_reads(results: dict[str, Any]) -> None:
    secret = results["secret_reads"]
    print(f"\nsecret reads: {secret['secret_reads']} per {secret['invocations']} warm invocations in one container")


def print_cold(results: dict[str, Any]) -> None:
    cold = results["cold_request"]
    print(
        f"\ncold request: handler import + first request in a fresh interpreter with Lambda's environment "
        f"(tracing on, sampled; SnapStart off; layer: {cold['layer']}), vs the reference handler (bench/reference); "
        f"medians of {cold['rounds']} interleaved rounds, ms, ours vs reference"
    )
    print(
        f"  {'function':22} {'import':>11} {'1st request':>12} {'total':>11} {'ratio':>6} {'CPU total':>11} "
        f"{'ratio':>6} {'paired':>6}  AWS calls (ms in them)"
    )
    for name, row in cold["functions"].items():
        print(
            f"  {name:22} {row['service_import_ms']:>4.0f} /{row['reference_import_ms']:>4.0f} "
            f"{row['service_first_request_ms']:>5.0f} /{row['reference_first_request_ms']:>4.0f} "
            f"{row['service_total_ms']:>4.0f} /{row['reference_total_ms']:>4.0f} {row['ratio_total']:>6.2f} "
            f"{row['service_total_cpu_ms']:>4.0f} /{row['reference_total_cpu_ms']:>4.0f} "
            f"{row['ratio_total_cpu']:>6.2f} {row['ratio_total_paired_median']:>6.2f}  "
            f"{row['service_aws_calls']} vs 1 ({row['service_aws_calls_ms']:.0f})"
        )
    print(
        "  heaviest imports of pause_or_cancel's cold request (self time by package): "
        + ", ".join(f"{i['package']} {i['self_ms']} ms" for i in cold["heaviest_imports_pause_or_cancel"])
    )


def print_scanner(results: dict[str, Any]) -> None:
    print("\nscanner scaling (same due rows, growing table)")
    for size, row in results["scanner_scaling"].items():
        print(
            f"  {int(size):>7} tracked: due {row['due']}, items read {row['items_read']} "
            f"({row['items_read_per_due']}x due), run {row['run_s']} s, of which moto's due query "
            f"{row['due_query_s_in_moto']} s; without it {row['run_without_query_s']} s"
        )


def print_authorizer(results: dict[str, Any]) -> None:
    authorizer = results["authorizer_overhead"]
    print(
        f"\nteam-token authorizer: median {authorizer['authorizer']['median_ms']} ms vs bare GetItem "
        f"{authorizer['bare_get_item']['median_ms']} ms: ratio {authorizer['ratio_median']}"
    )


def print_local_server(results: dict[str, Any]) -> None:
    for local in (results["local_server"], results["local_server_token_mode"]):
        print(
            f"local server ({local['auth_mode']}) GET /v3/user/scheduled_sends: {local['rps']} req/s, "
            f"median {local['median_ms']} ms, p95 {local['p95_ms']} ms ({local['threads']} threads, "
            f"{local['requests']} requests)"
        )


def targets(results: dict[str, Any]) -> dict[str, bool]:
    """Each target the sections run can judge."""
    judged: dict[str, bool] = {}
    if "secret_reads" in results:
        judged["secret_reads_one_per_cache_period"] = results["secret_reads"]["secret_reads"] == 1
    if "cold_request" in results:
        cold = results["cold_request"]["functions"].values()
        judged["cold_request_ratio_at_most_1_3"] = all(f["ratio_total"] <= 1.3 for f in cold)
    if "warm_overhead" in results:
        warm = results["warm_overhead"].values()
        judged["warm_ratio_vs_reference_without_table_at_most_1_2"] = all(
            r["ratio_vs_reference_without_dynamodb"] <= 1.2 for r in warm
        )
        judged["table_calls_at_most_one_per_request"] = all(r["dynamodb_calls_total_per_request"] <= 1 for r in warm)
    if "scanner_accounts" in results:
        rows = results["scanner_accounts"]["rows"]
        judged["scanner_runs_inside_their_timeout"] = all(r["max_run_s"] < r["timeout_s"] for r in rows)
        judged["scanner_active_accounts_reconciled_within_15_min"] = all(
            r["active_max_gap_s"] <= 900 for r in rows if r["rate_limit_per_minute"] is None
        )
    if "scanner_scaling" in results:
        scans = results["scanner_scaling"].values()
        judged["scanner_items_read_at_most_1_1_x_due"] = all(s["items_read"] <= 1.1 * s["due"] for s in scans)
    return judged


SECTIONS = (
    "warm_overhead",
    "secret_reads",
    "cold_request",
    "scanner_scaling",
    "scanner_accounts",
    "authorizer_overhead",
    "local_server",
)


def logs_to(stream: Any) -> None:
    """The layer's logger writes to `stream`: it was made (with the stdout of its time) when this script
    imported the layer, before stdout was redirected, so its log lines went to the terminal or pipe that runs
    the bench, a slower and more variable write than Lambda's log pipe. Metrics are printed at each flush and
    follow the redirection by themselves."""
    import logging

    from scheduled_sends.runtime.observability import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "bench-results.json"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script itself")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--layer", type=Path, help="cold request: a built layer directory (/opt/python) instead of the model of one"
    )
    parser.add_argument("--cold-rounds", type=int, help="cold request: rounds (default 15, --quick 1)")
    parser.add_argument(
        "--layer-source-only", action="store_true", help="cold request: the package without bytecode (SAM's own build)"
    )
    options = parser.parse_args()
    quick = options.quick
    only = set(options.only.split(","))
    if only - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(only - set(SECTIONS)))}")
    config: dict[str, Any] = {
        "repetitions": 20 if quick else 300,
        "secret_invocations": 50 if quick else 1000,
        "cold_rounds": options.cold_rounds or (1 if quick else 15),
        "scanner_sizes": [100, 1000] if quick else [1_000, 100_000],
        "scanner_due": 10 if quick else 100,
        "local_requests": 40 if quick else 1000,
    }
    os.environ.update(ENVIRONMENT)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        },
        "config": config,
    }
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # the handlers' JSON logs and metrics
        logs_to(quiet)
        calls = AwsCalls()
        if "warm_overhead" in only:
            results["warm_overhead"] = warm_overhead(config["repetitions"], calls)
        if "secret_reads" in only:
            results["secret_reads"] = secret_reads(config["secret_invocations"], calls)
        if "cold_request" in only:
            results["cold_request"] = cold_requests(
                config["cold_rounds"], options.layer, bytecode=not options.layer_source_only
            )
        if "scanner_scaling" in only:
            results["scanner_scaling"] = scanner_scaling(config["scanner_sizes"], config["scanner_due"], calls)
        if "scanner_accounts" in only:
            results["scanner_accounts"] = scanner_accounts(quick)
        if "authorizer_overhead" in only:
            results["authorizer_overhead"] = authorizer_overhead(config["repetitions"])
        if "local_server" in only:
            results["local_server"] = local_server(config["local_requests"], threads=4)
            results["local_server_token_mode"] = local_server(config["local_requests"], threads=4, auth_mode="TOKEN")
            results["local_server_token_vs_iam_median"] = round(
                results["local_server_token_mode"]["median_ms"] / results["local_server"]["median_ms"], 2
            )
    results["machine"]["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    results["targets"] = targets(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    Path(options.out).write_text(json.dumps(results, indent=2) + "\n")
    printers = {
        "warm_overhead": print_warm,
        "secret_reads": print_secret_reads,
        "cold_request": print_cold,
        "scanner_scaling": print_scanner,
        "scanner_accounts": print_scanner_accounts,
        "authorizer_overhead": print_authorizer,
        "local_server": print_local_server,
    }
    for section in SECTIONS:
        if section in results:
            printers[section](results)
    print("\ntargets: " + ", ".join(f"{k}={'met' if v else 'NOT met'}" for k, v in results["targets"].items()))
    print(f"\nwritten to {options.out} in {results['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
