"""`.local-server.json` has one owner: a second runner in the same checkout refuses clearly instead of overwriting
it, and no runner deletes a file that names another."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from local.server_file import AlreadyServed, claim, release
from tests.support import ROOT, free_port, start_python_m_local


def _dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(finished.stdout)


def test_a_file_naming_a_live_runner_is_refused_and_left_as_it_was(tmp_path) -> None:
    path = tmp_path / "server.json"
    theirs = {"url": "http://127.0.0.1:3000", "pid": os.getppid(), "auth_mode": "IAM"}  # our parent: alive
    path.write_text(json.dumps(theirs))
    with pytest.raises(AlreadyServed) as refused:
        claim({"url": "http://127.0.0.1:3001", "auth_mode": "IAM"}, path)
    assert refused.value.state == theirs
    release(path)  # not ours: kept
    assert json.loads(path.read_text()) == theirs


def test_a_file_left_by_a_runner_that_died_is_replaced_and_released_by_its_new_owner(tmp_path) -> None:
    path = tmp_path / "server.json"
    path.write_text(json.dumps({"url": "http://127.0.0.1:3000", "pid": _dead_pid(), "auth_mode": "IAM"}))
    claim({"url": "http://127.0.0.1:3001", "auth_mode": "TOKEN"}, path)
    assert json.loads(path.read_text()) == {"url": "http://127.0.0.1:3001", "auth_mode": "TOKEN", "pid": os.getpid()}
    assert [p.name for p in tmp_path.iterdir()] == ["server.json"]  # no draft left behind
    release(path)
    assert not path.exists()


def test_a_second_make_run_in_the_same_checkout_refuses_and_never_touches_the_first_ones_file(tmp_path) -> None:
    state = tmp_path / "local-server.json"
    first, port, _ = start_python_m_local("--scan-seconds", "0", environment={"LOCAL_SERVER_STATE": str(state)})
    try:
        owned = json.loads(state.read_text())
        assert owned == {"url": f"http://127.0.0.1:{port}", "auth_mode": "IAM", "pid": first.pid}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENDGRID_", "POWERTOOLS_"))}
        second = subprocess.run(
            [sys.executable, "-m", "local", "--port", str(free_port()), "--scan-seconds", "0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "LOCAL_SERVER_STATE": str(state)},
        )
        assert second.returncode == 2
        (line,) = second.stderr.splitlines()
        assert f"another `make run` (pid {first.pid}) is serving http://127.0.0.1:{port}" in line
        assert "LOCAL_SERVER_STATE=<file> PORT=<port> make run" in line
        assert json.loads(state.read_text()) == owned
    finally:
        first.terminate()
        first.communicate(timeout=30)
    assert not state.exists()
