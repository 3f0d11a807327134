"""The README's curl walk-through (pause -> list -> resume) runs unchanged against the local server."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from local.server import LocalService
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
