"""The README's curl walk-throughs run unchanged against the local server: pause -> list -> resume, and the events
and time one (pause, 71 h later the warnings, the scanner's resume before expiry, the mail delivered)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
import requests

from local.server import LocalService
from scheduled_sends.adapters import event_bus as bus
from tests.support import ROOT


def _walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Walk-through: pause → list → resume") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through is written for curl")
def test_the_readme_walkthrough_works(local_service: LocalService) -> None:
    script = _walkthrough().replace("http://127.0.0.1:3000", local_service.url)
    assert local_service.url not in _walkthrough()  # the substitution did something

    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    batch = out.splitlines()[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", batch)
    assert f'"batch_id": "{batch}", "status": "pause"' in out  # paused, listed, read
    assert out.count("HTTP/1.1 204") == 3  # two PATCHes and the DELETE
    assert '"field": "batch_id"' in out  # the encoded slash was refused
    assert local_service.sandbox.statuses() == {}  # resumed at the end
    assert all(r.path != "/v3/user/scheduled_sends/a/b" for r in local_service.sandbox.requests)


def _time_walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Walk-through: events and time") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through is written for curl")
@pytest.mark.parametrize("with_action", [True, False])
def test_the_readme_time_walkthrough_warns_resumes_and_delivers(local_service: LocalService, with_action: bool) -> None:
    script = _time_walkthrough().replace("http://127.0.0.1:3000", local_service.url)
    if not with_action:
        script = script.replace(', \\"expiry_action\\": \\"resume\\"', "")
        assert "expiry_action" not in script.split("BATCH=", 1)[1].split("\n", 2)[1]

    started = time.monotonic()
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    events = local_service.collect_events() or []
    kept = requests.get(local_service.url + "/_local/events", timeout=10).json()
    kinds = [e["detail-type"] for e in kept]
    warnings = sorted(e["detail"]["threshold_seconds"] for e in kept if e["detail-type"] == bus.EXPIRY_WARNING)
    assert kinds[0] == bus.PAUSED and warnings == [3600, 21600, 86400], kinds
    assert kept[0]["detail"]["changed_by"] == local_service.caller_arn
    (mail,) = local_service.sandbox.mails()
    if with_action:
        (taken,) = [e for e in kept if e["detail-type"] == bus.EXPIRY_ACTION_TAKEN]
        assert taken["detail"]["action"] == "resume"
        assert mail.fate == "delivered"
        assert '"fate": "delivered"' in result.stdout
        assert '"warned": 2' in result.stdout  # the answer of the 71 h jump
    else:
        assert bus.EXPIRY_ACTION_TAKEN not in kinds
        assert mail.fate == "expired"
    assert not events or all(e in kept for e in events)
    claimed = re.search(r"the commands themselves take about (\d+) seconds", (ROOT / "README.md").read_text())
    assert claimed and took <= 3 * int(claimed.group(1)) + 10, took  # the README's timing, from a run like this one
