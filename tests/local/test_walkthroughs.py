"""Every shell walk-through of the docs is a file, docs/walkthroughs/<name>.sh, that the pages include; each runs
here, unchanged, against the local server `make run` serves, and its outcome is checked. The README shows the
two-minute one verbatim, and no page holds a walk-through of its own outside those files."""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import socket
import subprocess
import sys

import pytest
import requests

from local.server import LocalService
from scheduled_sends.adapters import event_bus as bus
from tests.support import ROOT

WALKTHROUGHS = ROOT / "docs" / "walkthroughs"
TESTED = {"two-minutes", "pause-list-resume", "expiry-action", "two-teams", "eu-subuser", "token-mode"}
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-throughs are written for curl")


def run(name: str, service: LocalService, script: str | None = None) -> str:
    """Runs a walk-through as a reader would (bash, stopping at the first failing command) against `service`."""
    text = script if script is not None else (WALKTHROUGHS / f"{name}.sh").read_text()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "API": service.url},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def events(service: LocalService, **query: str) -> list[dict]:
    return requests.get(service.url + "/_local/events", params=query, timeout=10).json()


def test_every_walkthrough_has_a_test() -> None:
    assert {path.stem for path in WALKTHROUGHS.glob("*.sh")} == TESTED


def test_every_walkthrough_defaults_to_make_runs_address() -> None:
    for path in WALKTHROUGHS.glob("*.sh"):
        assert "API=${API:-http://127.0.0.1:3000}" in path.read_text(), path.name


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, re.S)


def test_pages_hold_no_local_walkthrough_outside_the_files() -> None:
    """A block that talks to the local server belongs in a walk-through file (included with --8<--)."""
    pages = [p for p in (ROOT / "docs").rglob("*.md") if "generated" not in p.parts]
    for page in pages:
        for block in _shell_blocks(page.read_text()):
            assert "127.0.0.1:3000" not in block and "/_local/" not in block, (page, block[:200])


def test_the_readme_shows_the_two_minute_walkthrough_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = _shell_blocks(readme)
    walkthrough = (WALKTHROUGHS / "two-minutes.sh").read_text()
    assert walkthrough in blocks
    for block in blocks:  # any other shell block is a command list, not a walk-through against the server
        assert block == walkthrough or ("/_local/" not in block and "curl" not in block), block[:200]


@needs_curl
def test_two_minutes_pause_event_clock_warning(local_service: LocalService) -> None:
    out = run("two-minutes", local_service)

    (paused,) = events(local_service, **{"detail-type": bus.PAUSED})
    batch = paused["detail"]["batch_id"]
    assert paused["detail"]["changed_by"] == local_service.caller_arn
    assert f'"batch_id": "{batch}", "status": "pause"' in out
    warnings = events(local_service, batch_id=batch, **{"detail-type": bus.EXPIRY_WARNING})
    assert sorted(w["detail"]["threshold_seconds"] for w in warnings) == [21600, 86400]
    assert '"warned": 2' in out
    assert '"threshold_seconds": 21600' in out  # the last command shows them


@needs_curl
def test_pause_list_resume(local_service: LocalService) -> None:
    out = run("pause-list-resume", local_service)

    batch = out.splitlines()[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", batch)
    assert f'"batch_id": "{batch}", "status": "pause"' in out  # paused, listed, read
    assert out.count("HTTP/1.1 204") == 3  # two PATCHes and the DELETE
    assert '"field": "batch_id"' in out  # the encoded slash was refused
    assert local_service.sandbox.statuses() == {}  # resumed at the end
    assert all(r.path != "/v3/user/scheduled_sends/a/b" for r in local_service.sandbox.requests)


@needs_curl
@pytest.mark.parametrize("with_action", [True, False])
def test_expiry_action_resumes_and_delivers(local_service: LocalService, with_action: bool) -> None:
    script = (WALKTHROUGHS / "expiry-action.sh").read_text()
    if not with_action:  # the page says what happens without it: three warnings, no action, the mail expires
        script = script.replace(', \\"expiry_action\\": \\"resume\\"', "")
        assert "expiry_action\\" not in script
    out = run("expiry-action", local_service, script)

    kept = events(local_service)
    kinds = [e["detail-type"] for e in kept]
    warnings = sorted(e["detail"]["threshold_seconds"] for e in kept if e["detail-type"] == bus.EXPIRY_WARNING)
    assert kinds[0] == bus.PAUSED and warnings == [3600, 21600, 86400], kinds
    (mail,) = local_service.sandbox.mails()
    if with_action:
        (taken,) = [e for e in kept if e["detail-type"] == bus.EXPIRY_ACTION_TAKEN]
        assert taken["detail"]["action"] == "resume"
        assert mail.fate == "delivered"
        assert '"fate": "delivered"' in out
    else:
        assert bus.EXPIRY_ACTION_TAKEN not in kinds
        assert mail.fate == "expired"


@needs_curl
def test_two_teams_another_teams_batch_is_refused(local_service: LocalService) -> None:
    out = run("two-teams", local_service)

    body, status = out.strip().rsplit("\n", 1)
    assert status == "HTTP 403"
    (error,) = json.loads(body)["errors"]
    assert error["field"] == "batch_id", error
    assert local_service.sandbox.statuses() == {}  # nothing was paused at SendGrid


@needs_curl
def test_eu_subuser_reaches_only_the_eu_host(local_service: LocalService) -> None:
    out = run("eu-subuser", local_service)

    assert '"batch_id"' in out
    eu, world = local_service.sandboxes["eu"], local_service.sandboxes["global"]
    assert [r.path for r in eu.requests if r.path.startswith("/v3/mail")] == ["/v3/mail/batch"]
    assert not [r for r in world.requests if r.path.startswith("/v3/mail")]


@needs_curl
@pytest.mark.skipif(shutil.which("make") is None, reason="the walk-through runs make token-*")
def test_token_mode_issue_call_list_revoke(start_local_service) -> None:
    service = start_local_service(parameters={"AuthMode": "TOKEN"})
    out = run("token-mode", service)

    token = re.search(r"^token: +(sst_\S+)$", out, re.M).group(1)
    assert '"owner": "team:payments"' in out  # the call with the token made a batch for the team
    assert "401 without a token" in out
    assert re.search(r"^[0-9a-f]{16} +payments ", out, re.M)  # listed, without its secret
    assert out.count(token) == 1  # shown once, at issue
    assert "401 after the revoke" in out


def test_the_official_client_example_runs(local_service: LocalService) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "official_client.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "API": local_service.url},
    )

    assert result.returncode == 0, result.stderr
    assert "'status': 'pause'" in result.stdout  # listed while paused
    assert local_service.sandbox.statuses() == {}  # resumed at the end


def test_the_subscriber_example_gets_the_walkthroughs_events_once(start_local_service) -> None:
    with socket.socket() as probe:  # a free port for the example's own server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subscriber = subprocess.Popen(
        [sys.executable, "-u", str(ROOT / "docs" / "examples" / "subscriber.py"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert subscriber.stdout.readline().startswith("listening on")  # it is ready
        service = start_local_service(events_url=f"http://127.0.0.1:{port}")
        run("two-minutes", service)
        events(service)  # the runner forwards what it collects
    finally:
        subscriber.terminate()
        out, _ = subscriber.communicate(timeout=10)

    lines = out.splitlines()
    assert len(lines) == 2, out  # the two warnings; the owner's own pause is not news
    assert "(24 h warning): its mail is discarded in 2 h" in lines[0] + lines[1]
    assert "(6 h warning): its mail is discarded in 2 h" in lines[0] + lines[1]


def test_the_subscriber_example_drops_a_repeat_delivery() -> None:
    namespace = runpy.run_path(str(ROOT / "docs" / "examples" / "subscriber.py"))  # not as __main__: no server
    event = {
        "detail-type": "Scheduled Send Paused",
        "detail": {"event_id": "e1", "batch_id": "b1", "owner": "team:a", "changed_by": "team:ops"},
    }
    assert namespace["lambda_handler"](event) == "batch b1 was paused by team:ops"
    assert namespace["lambda_handler"](event) is None
