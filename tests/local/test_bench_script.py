"""`make bench` keeps working: the script runs at tiny sizes and writes every figure (timings are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cost.model import OPERATIONS
from tests.support import ROOT


@pytest.mark.slow
def test_bench_quick_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(out.read_text())
    assert set(results["warm_overhead"]) == set(OPERATIONS)  # every operation the cost model prices
    for row in results["warm_overhead"].values():  # the hand-written reference answered every warm round too
        assert row["reference_without_dynamodb"]["n"] == results["config"]["repetitions"]
        assert row["ratio_vs_reference_without_dynamodb"] > 0
        assert set(row["ratio_vs_reference_without_dynamodb_by_order"]) == {
            "both_after_the_bare_call",
            "each_after_the_other",
        }
    cold = results["cold_request"]
    assert set(cold["functions"]) == set(results["warm_overhead"])
    for row in cold["functions"].values():  # each function's first request in a fresh interpreter, traced
        assert row["ratio_total"] > 0 and row["reference_total_ms"] > 0
        assert {"127.0.0.1", "dynamodb"} <= set(row["traced_subsegments"])  # SendGrid (loopback) and DynamoDB
    assert cold["snapstart"] is False and cold["heaviest_imports_pause_or_cancel"]
    assert results["secret_reads"]["secret_reads"] == 1
    assert all(s["items_read"] == s["due"] for s in results["scanner_scaling"].values())
    assert results["local_server"]["requests"] == 40
    assert results["local_server_token_mode"]["auth_mode"] == "TOKEN"
    assert results["local_server_token_mode"]["requests"] == 40  # each one authorized by the token
    assert results["authorizer_overhead"]["ratio_median"] > 0
    # DynamoDB round trips, as the cost model and issue 25's target read them: per operation, per scanner run.
    calls = results["dynamodb_calls_per_operation"]
    assert set(calls) == set(results["warm_overhead"])
    assert calls["get_scheduled_send"] == {"total": 1.0, "calls": {"GetItem": 1.0}}
    # A team's pause: its hold and slot in one transaction, its record in one write (issue 25's two round trips).
    assert calls["pause_or_cancel"] == {"total": 2.0, "calls": {"TransactWriteItems": 1.0, "UpdateItem": 1.0}}
    assert calls["update_scheduled_send"]["total"] == calls["resume_scheduled_send"]["total"] == 2.0
    for size, run in results["dynamodb_calls_per_scanner_run"].items():
        assert run["due_rows"] == results["scanner_scaling"][size]["due"]
        assert run["total"] == sum(run["calls"].values()) >= run["due_rows"]  # at least one write per due row
    assert "targets:" in result.stdout


def test_no_call_always_follows_the_same_one() -> None:
    """`interleaved` reverses the baselines' order every other repetition: the reference follows the bare call
    in even repetitions and the subject in odd ones, and the subject follows each baseline in turn."""
    from bench.__main__ import interleaved

    calls: list[str] = []
    answer, subject_times, bare_times = interleaved(
        4, lambda: calls.append("ours") or "answer", lambda: calls.append("bare"), lambda: calls.append("ref")
    )
    assert calls == ["ours", "bare", "ref", "ours", "ref", "bare", "ours", "bare", "ref", "ours", "ref", "bare"]
    assert answer == "answer" and len(subject_times) == len(bare_times) == 4
