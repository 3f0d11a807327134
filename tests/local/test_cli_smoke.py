"""`scheduled-sends smoke --local` against the whole local stack: every step passes, each with its latency, the
batch it made ends resumed with its three change events on the bus, no other batch is touched, and a stack whose
scanner never ran fails the check and is still cleaned up."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import boto3
import requests

from local.server import LocalService
from scheduled_sends_cli.__main__ import main
from tests.support import run_cli, start_python_m_local

STEPS = [
    "create a batch id",
    "subscribe to the bus",
    "pause",
    "read",
    "list",
    "change to cancel",
    "resume",
    "change events on the bus",
    "scanner ran recently",
    "remove the subscription",
]


def _smoke(service: LocalService, *arguments: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--local", service.url, *arguments, "smoke"], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _row(service: LocalService, batch_id: str) -> list[dict[str, Any]]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=service.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    items = client.scan(TableName=service.refs["BatchesTable"])["Items"]
    return [item for item in items if item.get("batch_id", {}).get("S") == batch_id]


def _paused(service: LocalService) -> list[str]:
    return [e["batch_id"] for e in requests.get(f"{service.url}/v3/user/scheduled_sends", timeout=30).json()]


def test_smoke_passes_every_step_against_the_local_stack(local_service: LocalService) -> None:
    local_service.scan_and_report()  # `make run` scans every 30 s; here the test runs one
    code, out, err = _smoke(local_service, "--json")
    run = json.loads(out)
    assert code == 0, (out, err)
    assert [s["step"] for s in run["steps"]] == STEPS
    assert all(s["ok"] is True and s["seconds"] >= 0 for s in run["steps"])
    assert run["ok"] is True and run["left_behind"] == []
    events = requests.get(f"{local_service.url}/_local/events", params={"batch_id": run["batch_id"]}, timeout=30)
    assert [e["detail-type"] for e in events.json()] == [
        "Scheduled Send Paused",
        "Scheduled Send Status Changed",
        "Scheduled Send Resumed",
    ]
    assert _paused(local_service) == []  # its batch ends resumed
    assert "waiting for the change events on the bus" in err  # the progress line (stderr is no terminal here)


def test_smoke_touches_no_batch_it_did_not_create(local_service: LocalService) -> None:
    other = requests.post(f"{local_service.url}/v3/mail/batch", timeout=30).json()["batch_id"]
    paused = requests.post(
        f"{local_service.url}/v3/user/scheduled_sends", json={"batch_id": other, "status": "pause"}, timeout=30
    )
    assert paused.status_code == 201
    local_service.scan_and_report()
    before = _row(local_service, other)
    assert before  # the other team's batch has its row

    code, out, _ = _smoke(local_service)
    assert code == 0, out
    assert "smoke check passed" in out
    assert _row(local_service, other) == before
    assert _paused(local_service) == [other]


def test_smoke_fails_when_the_scanner_never_ran_and_still_cleans_up(local_service: LocalService) -> None:
    code, out, _ = _smoke(local_service)
    assert code == 1
    assert re.search(r"scanner ran recently +FAILED .*has not run since the server started", out)
    assert re.search(r"remove the subscription +ok", out)
    assert "smoke check FAILED" in out
    assert _paused(local_service) == []  # its batch was resumed before the scanner step


def test_the_smoke_command_finds_make_runs_server_by_itself(tmp_path) -> None:
    """Two processes, as an operator has them: `python -m local` (what `make run` starts) and the command with
    `--local` and no URL, which finds the server through its state file."""
    state = tmp_path / "local-server.json"
    process, port, _ = start_python_m_local("--scan-seconds", "0", environment={"LOCAL_SERVER_STATE": str(state)})
    try:
        scanned = requests.post(f"http://127.0.0.1:{port}/_local/clock", json={"advance": 0}, timeout=60)
        assert scanned.status_code == 200  # one scan now, as `make run` does every 30 s
        environment = {"LOCAL_SERVER_STATE": str(state)}
        smoked = run_cli("smoke", "--local", environment=environment)
        assert smoked.returncode == 0, (smoked.stdout, smoked.stderr)
        assert "smoke check passed" in smoked.stdout
        assert f"the local bus tap (http://127.0.0.1:{port}/_local/events)" in smoked.stdout
    finally:
        process.terminate()
        process.communicate(timeout=30)
