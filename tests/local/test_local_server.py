"""The local runner: template routes, the API Gateway event it builds, and `python -m local` itself."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import requests

from local import template as cfn
from local.events import proxy_event
from local.redaction import request_label
from local.server import CALLER_HEADER, LocalService
from tests.support import CANARY_KEY, OPERATIONS, OPS_OPERATIONS, ROOT, start_python_m_local

SAM_SAMPLE = json.loads((Path(__file__).parents[1] / "fixtures" / "sam-generated-aws-proxy.json").read_text())


def _keys(document: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in document.items():
        keys.add(prefix + key)
        if isinstance(value, dict) and key not in (
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "pathParameters",
            "stageVariables",
        ):
            keys |= _keys(value, prefix + key + ".")
    return keys


def test_built_events_have_every_key_of_the_event_sam_generates() -> None:
    event = proxy_event(
        method="PATCH",
        resource="/user/scheduled_sends/{batch_id}",
        path="/user/scheduled_sends/abc",
        path_parameters={"batch_id": "abc"},
        headers=[("A", "1"), ("A", "2")],
        body=b"{}",
        caller_arn="arn:aws:iam::1:user/x",
    )
    assert _keys(SAM_SAMPLE) <= _keys(event)
    assert event["requestContext"]["stage"] == "v3"
    assert event["requestContext"]["path"] == "/v3/user/scheduled_sends/abc"
    assert event["multiValueHeaders"] == {"A": ["1", "2"]} and event["headers"] == {"A": "2"}


def test_routes_come_from_the_template() -> None:
    routes = cfn.routes(cfn.load_template())
    assert {(r.method, r.resource) for r in routes} == set(OPERATIONS.values()) | set(OPS_OPERATIONS.values())
    get_one = next(r for r in routes if r.method == "GET" and "{batch_id}" in r.resource and "user" in r.resource)
    assert get_one.match("GET", "/user/scheduled_sends/abc") == {"batch_id": "abc"}
    assert get_one.match("GET", "/user/scheduled_sends/a/b") is None
    assert get_one.match("DELETE", "/user/scheduled_sends/abc") is None


def test_a_request_goes_through_handler_and_sandbox(local_service: LocalService) -> None:
    created = requests.post(f"{local_service.url}/v3/mail/batch")
    assert created.status_code == 201
    batch = created.json()["batch_id"]
    paused = requests.post(f"{local_service.url}/v3/user/scheduled_sends", json={"batch_id": batch, "status": "pause"})
    assert paused.status_code == 201
    assert local_service.sandbox.statuses() == {batch: "pause"}
    assert local_service.sandbox.requests[-1].headers["Authorization"] == f"Bearer {local_service.api_key}"


def test_encoded_slashes_and_traversal_never_reach_the_sandbox(local_service: LocalService) -> None:
    for path in ("/v3/user/scheduled_sends/a%2Fb", "/v3/user/scheduled_sends/..%2F..%2Fmail", "/v3/mail/batch/%2e%2e"):
        response = requests.get(local_service.url + path)
        assert response.status_code == 400, path
        assert response.json()["errors"][0]["field"] == "batch_id"
    assert local_service.sandbox.requests == []


def test_unknown_routes_get_a_sendgrid_style_404(local_service: LocalService) -> None:
    for path in ("/v3/nothing", "/mail/batch", "/v3/user/scheduled_sends/a/b"):
        response = requests.get(local_service.url + path)
        assert response.status_code == 404
        assert "no route" in response.json()["errors"][0]["message"]


def test_caller_principal_is_the_configured_local_arn_or_the_local_header(local_service: LocalService) -> None:
    seen: list[str] = []
    for loaded in local_service._routes:

        def spy(event, context, handler=loaded.handler):
            seen.append(event["requestContext"]["identity"]["userArn"])
            return handler(event, context)

        loaded.handler = spy
    requests.get(f"{local_service.url}/v3/user/scheduled_sends")
    requests.get(f"{local_service.url}/v3/user/scheduled_sends", headers={CALLER_HEADER: "arn:aws:iam::1:role/other"})
    assert seen == [local_service.caller_arn, "arn:aws:iam::1:role/other"]


def test_python_m_local_serves_until_ctrl_c_and_stops_cleanly() -> None:
    process, port, text = start_python_m_local()
    try:
        assert f"http://127.0.0.1:{port}/v3" in text, text
        assert "SigV4 is NOT verified locally" in text
        assert "embedded SendGrid sandboxes, global host at http://127.0.0.1:" in text
        assert "EU host at http://127.0.0.1:" in text
        assert "Subusers (LOCAL_SUBUSERS): acme (global), eurocorp (eu), any other name (global)" in text
        created = requests.post(f"http://127.0.0.1:{port}/v3/mail/batch", timeout=10)
        assert created.status_code == 201
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "POST /v3/mail/batch 201" in output
    assert "stopped." in output
    assert "Traceback" not in output


def test_the_request_log_never_shows_a_token_or_key_sent_in_the_url() -> None:
    team_token = "sst_0123456789abcdef_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v"  # 43-char secret
    lines: list[str] = []
    service = LocalService(port=0, log=lines.append, scan_seconds=0, sendgrid_api_key=CANARY_KEY).start()
    try:
        for path in (
            f"/v3/user/scheduled_sends?token={team_token}",
            f"/v3/user/scheduled_sends?a=1&token={quote(team_token)}&b=2",
            f"/v3/user/scheduled_sends/{team_token}",
            f"/v3/user/scheduled_sends/{quote(team_token, safe='')}".replace("_", "%5F"),
            f"/v3/mail/batch?key={CANARY_KEY}",
            "/v3/mail/batch?auth=Bearer%20opaque-bearer-value",
        ):
            connection = http.client.HTTPConnection(service.url.removeprefix("http://"), timeout=10)
            connection.request("GET", path)  # as sent: requests would re-encode the path
            connection.getresponse().read()
            connection.close()
    finally:
        service.stop()
    assert len(lines) == 6, lines
    assert all(line.startswith("GET /v3/") for line in lines), lines
    for secret in (team_token, team_token.removeprefix("sst_"), CANARY_KEY, "opaque-bearer-value"):
        assert not [line for line in lines if secret in line], secret
    assert "sst_0123456789abcdef" not in "".join(lines)


def test_request_labels_cut_the_query_redact_the_path_and_escape_control_characters() -> None:
    token = "sst_0123456789abcdef_" + "x" * 43
    assert request_label("GET", f"/v3/user/scheduled_sends?token={token}") == "GET /v3/user/scheduled_sends?..."
    assert request_label("GET", f"/v3/user/scheduled_sends/{token}") == "GET /v3/user/scheduled_sends/[REDACTED]"
    assert request_label("GET", "/v3/x/sst%5F0123456789abcdef%5F" + "x" * 43) == "GET /v3/x/[REDACTED]"
    assert request_label("GET", "/v3/a/Bearer%20abc.def") == "GET /v3/a/Bearer%20[REDACTED]"
    assert request_label("G\x1bT", "/v3/\x1b[31mred\r\n") == "G%1BT /v3/%1B[31mred%0D%0A"
    assert request_label("GET", "/v3/mail/batch/a%2Fb") == "GET /v3/mail/batch/a%2Fb"  # escapes kept as sent


def test_make_run_declares_the_local_subusers_of_each_region_and_routes_them(monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_SUBUSERS", "zeta:eu,acme:global")  # no "*": any other name is unknown
    process, port, banner = start_python_m_local("--scan-seconds", "0")
    try:
        assert "Subusers (LOCAL_SUBUSERS): zeta (eu), acme (global); parent account: global" in banner, banner
        url = f"http://127.0.0.1:{port}/v3/mail/batch"
        assert requests.post(url, headers={"on-behalf-of": "zeta"}, timeout=10).status_code == 201
        assert requests.post(url, headers={"on-behalf-of": "acme"}, timeout=10).status_code == 201
        unknown = requests.post(url, headers={"on-behalf-of": "other"}, timeout=10)
        assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "on-behalf-of"
    finally:
        process.kill()
        process.communicate(timeout=15)


def test_bad_local_subusers_stop_make_run_with_a_clear_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local", "--port", "0", "--subusers", "acme:mars"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "a local subuser is name:global or name:eu" in result.stderr
