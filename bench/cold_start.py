"""Cold requests: each API function's first request in a fresh interpreter, against the reference handler."""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import BATCH, CALLER, OPERATIONS, REFERENCE, event_for
from bench.fakes import XRayDaemon, canned_sendgrid, trace_header
from bench.lambda_layer import built_layer, lambda_environment

COLD_CHILD = Path(__file__).resolve().parent / "cold_request.py"
AWS_OR_HTTP = ("aws", "remote")  # X-Ray subsegment namespaces: an AWS SDK call, an HTTP call


def run_cold(
    environment: dict[str, str],
    event: dict[str, Any],
    workdir: Path,
    layer: Path | None,
    profile: bool = False,
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


class ColdWorld:
    """What a cold request meets: SendGrid (loopback), a moto server reached through AWS_ENDPOINT_URL holding the
    caller's paused batch, an X-Ray daemon's socket, and the layer as built; `first_request` runs one."""

    API_KEY = "SG.bench-key"

    def __init__(self, layer_given: Path | None = None, bytecode: bool = True) -> None:
        self._layer_given, self._bytecode = layer_given, bytecode
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> ColdWorld:
        import tempfile

        from local import template as cfn
        from local.server import LocalService
        from scheduled_sends.adapters.batches_table import BatchStore
        from scheduled_sends.domain.batch import Batch

        with contextlib.ExitStack() as stack:
            sendgrid = canned_sendgrid()
            stack.callback(sendgrid.stop)
            self.xray = XRayDaemon()
            stack.callback(self.xray.stop)
            self.service = LocalService(
                port=0,
                log=lambda line: None,
                scan_seconds=0,
                sendgrid_base_url=sendgrid.url,
                sendgrid_api_key=self.API_KEY,
            ).start()
            stack.callback(self.service.stop)
            table = self.service.aws_resource("dynamodb").Table(self.service.refs["BatchesTable"])
            self._store = BatchStore(table, 8, (), 1800)
            self._owned = Batch("parent", BATCH, CALLER, status="pause")
            self._routes = {route.code_dir.name: route for route in cfn.routes(self.service.template)}
            self.workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cold-")))
            self.layer = self._layer_given or built_layer(self.workdir, self._bytecode)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def describe_layer(self) -> str:
        if self._layer_given:
            return str(self._layer_given)
        return "bytecode, as layers/shared/Makefile builds it" if self._bytecode else "source only"

    def environment_of(self, function: str, which: str, trace: str) -> dict[str, str]:
        """Lambda's environment and the template's variables of `function`, for ours or the reference."""
        template_variables = self.service.function_environment(self._routes[function].function)
        for local_only in ("POWERTOOLS_TRACE_DISABLED", "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME"):
            template_variables.pop(local_only, None)
        code_dir = REFERENCE if which == "reference" else self._routes[function].code_dir
        return {
            **lambda_environment(function, code_dir, self.service.aws_endpoint_url, self.xray.address),
            **template_variables,
            "_X_AMZN_TRACE_ID": trace,
            "SENDGRID_API_KEY": self.API_KEY,  # only the reference reads it; ours reads Secrets Manager
        }

    def first_request(
        self, function: str, which: str, trace: str | None = None, profile: bool = False
    ) -> dict[str, Any]:
        """`function`'s import and first request in a fresh interpreter: "reference" for the hand-written
        handler, anything else for ours; the batch row is the same each run."""
        self._store.change("parent", BATCH, lambda _current: self._owned, int(time.time()))
        environment = self.environment_of(function, which, trace or trace_header()[1])
        layer = None if which == "reference" else self.layer
        timings = run_cold(environment, event_for(function), self.workdir, layer, profile=profile)
        assert timings["answer"]["statusCode"] < 300, (function, which, timings["answer"])
        return timings


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
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}  # (function, "service"|"reference") -> timings
    traced: dict[str, list[str]] = {}
    with ColdWorld(layer_given, bytecode) as world:
        for round_number in range(rounds):
            for function in OPERATIONS:
                trace_id, trace = trace_header()
                pair = [("service", trace), ("reference", None)]
                for which, which_trace in pair if round_number % 2 == 0 else pair[::-1]:
                    runs.setdefault((function, which), []).append(world.first_request(function, which, which_trace))
                time.sleep(0.05)  # the X-Ray documents are UDP datagrams: let them arrive
                subsegments = world.xray.subsegments(trace_id)
                traced[function] = sorted({s["name"] for s in subsegments if s.get("namespace") in AWS_OR_HTTP})
                aws = [s for s in subsegments if s.get("namespace") == "aws"]
                runs[(function, "service")][-1]["aws_calls"] = len(aws)
                runs[(function, "service")][-1]["aws_calls_s"] = sum(s["end_time"] - s["start_time"] for s in aws)
        profile = world.first_request("pause_or_cancel", "service", profile=True)
        layer_described = world.describe_layer()

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
        "layer": layer_described,
        "functions": functions,
        "heaviest_imports_pause_or_cancel": heaviest(profile["importtime"]),
    }
