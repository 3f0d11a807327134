"""Local mode shows what the bus carries and moves time: /_local/events, LOCAL_EVENTS_URL, /_local/clock, one short
line per scan and per event; and the friction a new user hit (a taken port, the token command on another port,
`make run PARAMS=...`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import requests
from pytest_httpserver import HTTPServer

from local.bus import ENVELOPE, describe
from local.server import LocalService, duration_seconds
from scheduled_sends.adapters import event_bus as bus
from scheduled_sends.runtime import clock
from tests.support import ROOT, free_port, run_cli, start_python_m_local

HOUR = 3600


def _call(service: LocalService, method: str, path: str, body: dict | None = None, **kwargs) -> requests.Response:
    return requests.request(method, service.url + path, json=body, timeout=30, **kwargs)


def _paused_batch(service: LocalService, **extension) -> str:
    created = _call(service, "POST", "/v3/mail/batch", extension or None)
    assert created.status_code == 201, created.text
    batch = created.json()["batch_id"]
    paused = _call(service, "POST", "/v3/user/scheduled_sends", {"batch_id": batch, "status": "pause"})
    assert paused.status_code == 201, paused.text
    return batch


def test_change_and_scanner_events_are_kept_printed_and_filtered(
    start_local_service: Callable[..., LocalService],
) -> None:
    lines: list[str] = []
    service = start_local_service(log=lines.append)
    first = _paused_batch(service, send_at=service.now() + HOUR)
    second = _paused_batch(service)
    assert _call(service, "DELETE", f"/v3/user/scheduled_sends/{second}").status_code == 204

    everything = _call(service, "GET", "/_local/events").json()

    assert [(e["detail-type"], e["detail"]["batch_id"]) for e in everything] == [
        (bus.PAUSED, first),
        (bus.PAUSED, second),
        (bus.RESUMED, second),
    ]
    assert all(tuple(e) == ENVELOPE for e in everything)  # EventBridge's envelope, as a target gets it
    assert everything[0]["account"] == "000000000000" and everything[0]["source"] == "scheduled-sends"
    assert f"event: Scheduled Send Resumed  batch {second}  by {service.caller_arn}  (pause -> resumed)" in lines
    by_type = _call(service, "GET", "/_local/events", params={"detail-type": bus.RESUMED}).json()
    assert [e["detail"]["batch_id"] for e in by_type] == [second]
    by_batch = _call(service, "GET", "/_local/events", params={"batch_id": first}).json()
    assert [e["detail-type"] for e in by_batch] == [bus.PAUSED]
    later = _call(service, "GET", "/_local/events", params={"since": service.now() + 60}).json()
    assert later == []
    refused = _call(service, "GET", "/_local/events", params={"since": "yesterday"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "since"
    assert _call(service, "GET", "/_local/events", params={"batch": "x"}).status_code == 400


def test_moving_the_clock_moves_the_service_and_both_sandboxes_then_scans_once(
    start_local_service: Callable[..., LocalService],
) -> None:
    lines: list[str] = []
    service = start_local_service(log=lines.append)
    batch = _paused_batch(service, send_at=service.now() + HOUR)
    before = service.now()

    answer = _call(service, "POST", "/_local/clock", {"advance": "71h"})

    assert answer.status_code == 200, answer.text
    moved = answer.json()
    assert moved["moved_seconds"] == 71 * HOUR and moved["now"] >= before + 71 * HOUR
    assert moved["scan"]["warned"] == 2  # 24 h and 6 h left: both crossed in the one run after the jump
    warnings = [e for e in moved["events"] if e["detail-type"] == bus.EXPIRY_WARNING]
    assert {e["detail"]["threshold_seconds"] for e in warnings} == {86400, 21600}
    assert {e["detail"]["batch_id"] for e in warnings} == {batch}
    assert abs(clock.now() - moved["now"]) <= 2  # the layer's clock, which every function reads
    assert all(abs(s.clock() - moved["now"]) <= 2 for s in service.sandboxes.values())
    assert any(line.startswith("scan: due 1, warned 2") for line in lines), lines
    told = _call(service, "GET", "/_local/clock").json()
    assert told["offset_seconds"] == 71 * HOUR
    # The last scan, on the local stack's clock (what `scheduled-sends smoke --local` checks).
    assert told["last_scan"]["counts"]["warned"] == 2 and abs(told["last_scan"]["at"] - moved["now"]) <= 2

    target = moved["now"] + 600
    at = _call(service, "POST", "/_local/clock", {"at": target}).json()
    # Wall time keeps running between the two calls (a second or two on a loaded machine): the jump is what is
    # left to `target`, and the clock lands on it (`now` is read after the scan that follows the move).
    assert 590 <= at["moved_seconds"] <= 600 and target <= at["now"] <= target + 30, at
    for bad in ({"advance": "soon"}, {"advance": "1h", "at": 1}, {"at": before}, {"advance": -5}, []):
        refused = _call(service, "POST", "/_local/clock", bad)
        assert refused.status_code == 400, bad
    service.stop()
    assert clock.offset() == 0  # the process's time is wall time again


def test_the_clock_answers_every_event_its_scan_published_while_the_bus_is_read_in_the_background(
    start_local_service: Callable[..., LocalService],
) -> None:
    # As under `make run`, which reads the bus every 0.5 s: here all the time, so it drains the scan's events
    # before the clock's request does, every run.
    service = start_local_service(events_seconds=0.001)
    for _ in range(3):
        batch = _paused_batch(service, send_at=service.now() + HOUR)
        moved = _call(service, "POST", "/_local/clock", {"advance": "71h"}).json()
        warned = [e["detail"]["batch_id"] for e in moved["events"] if e["detail-type"] == bus.EXPIRY_WARNING]
        assert len(warned) == moved["scan"]["warned"] and warned.count(batch) == 2, moved
        assert [e for e in moved["events"] if e["detail-type"] == bus.PAUSED] == []  # the pause came before it


def test_an_event_line_says_what_a_status_became_in_words() -> None:
    resumed = {"detail-type": bus.RESUMED, "detail": {"batch_id": "b", "changed_by": "me", "previous_status": "pause"}}
    assert describe({**resumed, "detail": {**resumed["detail"], "status": "none"}}).endswith("(pause -> resumed)")
    scanner = {"detail-type": bus.EXPIRY_ACTION_TAKEN, "detail": {"batch_id": "b", "previous_status": "pause"}}
    assert describe({**scanner, "detail": {**scanner["detail"], "status": None}}) == (
        f"event: {bus.EXPIRY_ACTION_TAKEN}  batch b  by the expiry scanner  (pause -> resumed)"
    )
    paused = {"detail-type": bus.PAUSED, "detail": {"batch_id": "b", "previous_status": "none", "status": "pause"}}
    assert describe(paused).endswith("(none -> pause)")


def test_each_event_is_posted_to_local_events_url_as_eventbridge_delivers_it(
    start_local_service: Callable[..., LocalService], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/events", method="POST").respond_with_data("", status=200)
    lines: list[str] = []
    service = start_local_service(events_url=httpserver.url_for("/events"), events_seconds=0.1, log=lines.append)
    batch = _paused_batch(service)

    deadline = time.monotonic() + 20
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.1)

    ((request, _),) = httpserver.log
    event = json.loads(request.data)
    assert tuple(event) == ENVELOPE
    assert (event["detail-type"], event["detail"]["batch_id"], event["detail"]["changed_by"]) == (
        bus.PAUSED,
        batch,
        service.caller_arn,
    )
    assert describe(event) in lines  # printed by the background collection too


def test_a_failing_subscriber_is_reported_and_the_events_are_still_kept(
    start_local_service: Callable[..., LocalService],
) -> None:
    lines: list[str] = []
    service = start_local_service(events_url=f"http://127.0.0.1:{free_port()}/nobody", log=lines.append)
    batch = _paused_batch(service)

    kept = _call(service, "GET", "/_local/events").json()

    assert [e["detail"]["batch_id"] for e in kept] == [batch]
    assert any("LOCAL_EVENTS_URL: could not POST event" in line for line in lines)


def test_durations_read_as_a_developer_writes_them() -> None:
    assert [duration_seconds(v) for v in ("71h", "30m", "1h30m", "2d", "90s", 45)] == [
        71 * HOUR,
        1800,
        5400,
        172800,
        90,
        45,
    ]


# -- python -m local as `make run` starts it -----------------------------------------------------------------
def test_make_run_prints_one_short_line_per_scan_and_no_metrics_json() -> None:
    process, port, banner = start_python_m_local("--scan-seconds", "1")
    try:
        assert f"curl http://127.0.0.1:{port}/_local/events" in banner
        assert f"curl -X POST http://127.0.0.1:{port}/_local/clock" in banner
        seen: list[str] = []
        while sum(line.startswith("scan: ") for line in seen) < 2:
            seen.append(process.stdout.readline())
    finally:
        process.terminate()
        rest = process.communicate(timeout=30)[0]
    scans = [line for line in seen if line.startswith("scan: ")]
    assert scans[0].strip() == (
        "scan: due 0, warned 0, actioned 0, expired 0, reclaimed 0, drift 0, errors 0, items read 0, reconciled 0, "
        "reconcile due 0, sendgrid calls 0, rate limited 0, unreconcilable 0, stopped early 0"
    )
    assert not [line for line in seen + rest.splitlines() if '"_aws"' in line or "scan finished" in line]


def _one_request_logged(log_mode: str | None) -> list[str]:
    """What `python -m local` prints, with LOCAL_LOG as given, for a request that logs (INFO) and counts a
    metric: a refused one (a non-admin reading a batch of nobody's)."""
    environment = {"LOCAL_LOG": log_mode} if log_mode else {}
    process, port, _ = start_python_m_local("--scan-seconds", "0", environment=environment)
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/v3/user/scheduled_sends/nope", timeout=30)
        assert answer.status_code == 403
    finally:
        process.terminate()
        rest = process.communicate(timeout=30)[0]
    return rest.splitlines()


def test_make_run_prints_one_short_line_per_request_by_default() -> None:
    lines = _one_request_logged(None)
    (line,) = [line for line in lines if "/v3/" in line]
    assert re.fullmatch(r"GET /v3/user/scheduled_sends/nope 403 \d+\.\dms by user/local-developer", line), line
    assert not [line for line in lines if line.startswith("{")], lines  # neither log lines nor metrics


def test_make_run_prints_every_json_line_as_in_aws_with_local_log_json() -> None:
    lines = _one_request_logged("json")
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert {"request refused", "request answered"} <= {entry.get("message") for entry in logged}, lines
    assert any("_aws" in entry for entry in logged)  # the request's metric, as EMF
    assert [line for line in lines if line.startswith("GET /v3/user/scheduled_sends/nope 403 ")]


def test_a_taken_port_is_one_line_naming_the_way_out_and_exit_2() -> None:
    process, port, _ = start_python_m_local("--scan-seconds", "0")
    try:
        second = subprocess.run(
            [sys.executable, "-m", "local", "--port", str(port), "--scan-seconds", "0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENDGRID_", "POWERTOOLS_"))},
        )
    finally:
        process.kill()
    assert second.returncode == 2
    assert second.stdout == ""
    (line,) = second.stderr.splitlines()
    assert f"port {port} on 127.0.0.1 is already in use" in line and "PORT=" in line


def test_the_token_command_finds_the_local_server_on_any_port(tmp_path) -> None:
    state = tmp_path / "local-server.json"
    process, port, banner = start_python_m_local(
        "--parameter", "AuthMode=TOKEN", "--scan-seconds", "0", environment={"LOCAL_SERVER_STATE": str(state)}
    )
    try:
        assert json.loads(state.read_text())["url"] == f"http://127.0.0.1:{port}"
        assert f"scheduled-sends --local http://127.0.0.1:{port} tokens issue --team <name>" in banner
        environment = {**os.environ, "LOCAL_SERVER_STATE": str(state)}
        environment.pop("PORT", None)
        issued = run_cli("--local", "--json", "tokens", "issue", "--team", "payments", environment=environment)
        assert issued.returncode == 0, issued.stderr
        token = json.loads(issued.stdout)["token"]
        listed = requests.get(
            f"http://127.0.0.1:{port}/v3/user/scheduled_sends", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert listed.status_code == 200
        by_port = run_cli(
            "tokens",
            "list",
            "--local",
            environment={**environment, "LOCAL_SERVER_STATE": str(tmp_path / "none.json"), "PORT": str(port)},
        )
        assert by_port.returncode == 0 and "payments" in by_port.stdout
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert not state.exists()  # removed when it stopped


def test_the_token_command_says_where_it_looked_when_no_server_answers(tmp_path) -> None:
    port = free_port()
    environment = {**os.environ, "LOCAL_SERVER_STATE": str(tmp_path / "none.json"), "PORT": str(port)}
    failed = run_cli("--local", "tokens", "list", environment=environment)
    assert failed.returncode == 1  # nothing answered: a failure, not a usage error
    assert f"no local server at http://127.0.0.1:{port} (from PORT" in failed.stderr
    assert "--local http://127.0.0.1:<port>" in failed.stderr


@pytest.mark.parametrize(
    ("variables", "wanted"),
    [
        (["PARAMS=AuthMode=TOKEN SlotReclaim=notify"], "--parameter AuthMode=TOKEN --parameter SlotReclaim=notify"),
        (["AUTH_MODE=TOKEN"], "--parameter AuthMode=TOKEN"),
    ],
)
def test_make_run_passes_any_template_parameter(variables: list[str], wanted: str) -> None:
    dry = subprocess.run(
        ["make", "-n", "--always-make", "run", *variables], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    (command,) = [line for line in dry.stdout.splitlines() if " -m local" in line]
    assert command.split(" -m local", 1)[1].split() == wanted.split()
