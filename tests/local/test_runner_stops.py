"""`make run` always stops: SIGINT or SIGTERM to the runner's whole process group (what Ctrl-C, `kill -- -PGID`
or a supervisor sends; make passes it on, so the runner often gets it twice) ends it within seconds, whether
it lands while Python imports, while the stack starts or once it serves - and the port and the server file are
given back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.stopping import StopRequested, StopSignals
from tests.support import ROOT, free_port

STOP_WITHIN_SECONDS = 5  # from the signal to the exit; measured 0.5-0.7 s on a busy 2-core machine
# (signal, when it lands, how many times in quick succession). "at once": right after the process is made,
# while the interpreter imports; "starting": once the runner says it is starting (port bound, moto and the
# functions not yet); "ready": once it serves. Twenty stops; a "ready" one pays a whole start (~2.5 s idle, 6 s
# on a busy 2-core machine), so most land earlier, where a runner used to hang too.
STOPS = [
    *[(number, "ready", times) for number in (signal.SIGINT, signal.SIGTERM) for times in (1, 2)],
    *[(number, "starting", times) for number in (signal.SIGINT, signal.SIGTERM) for times in (1, 2, 2, 3)],
    *[(number, "at once", times) for number in (signal.SIGINT, signal.SIGTERM) for times in (1, 2, 2, 3)],
]


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _stop_once(
    number: signal.Signals, moment: str, times: int, state: Path, through_make: bool = False
) -> tuple[int | None, float, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENDGRID_", "POWERTOOLS_"))}
    env["LOCAL_SERVER_STATE"] = str(state)
    command = [sys.executable, "-m", "local", "--port", str(port), "--scan-seconds", "0"]
    if through_make:  # -o: the venv counts as built (no pip run inside a test); PY: this interpreter
        env.update(PORT=str(port), LOCAL_SCAN_SECONDS="0")
        command = ["make", "--no-print-directory", "-o", ".venv/.installed", "run", f"PY={sys.executable}"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as `make run` under a terminal or supervisor
    )
    seen = []
    try:
        if moment != "at once":
            wanted = "starting the local stack" if moment == "starting" else "Ctrl-C stops"
            while not seen or wanted not in seen[-1]:
                line = process.stdout.readline()
                assert line, "".join(seen)  # it ended before it got there
                seen.append(line)
        signalled = time.monotonic()
        for _ in range(times):
            os.killpg(process.pid, number)
        try:
            rest = process.communicate(timeout=STOP_WITHIN_SECONDS)[0]
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - signalled, "".join(seen)
        return process.returncode, time.monotonic() - signalled, "".join(seen) + rest
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)
        assert _port_is_free(port)


def test_the_runner_stops_within_seconds_at_any_moment_on_sigint_or_sigterm_once_or_several_times(tmp_path) -> None:
    outcomes = []
    for index, (number, moment, times) in enumerate(STOPS):
        state = tmp_path / f"server-{index}.json"
        code, seconds, output = _stop_once(number, moment, times, state)
        outcomes.append((number.name, moment, times, code, round(seconds, 2)))
        assert code is not None, f"{number.name} x{times} {moment}: still running after {seconds:.1f} s\n{output}"
        assert not state.exists(), output  # given back (or never written)
        if moment != "at once":  # once it handles signals it stops cleanly, whatever came in the meantime
            assert code == 0, f"{number.name} x{times} {moment}: exit {code}\n{output}"
            assert "stopped" in output and "Traceback" not in output, output  # "stopped." / "stopped while starting."
    assert len(outcomes) == 20, outcomes
    print(*outcomes, sep="\n")  # with -s: each stop's exit code and seconds from the signal to the exit


def test_any_number_of_stop_signals_wake_the_waiting_runner_once() -> None:
    stop = StopSignals()
    try:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait() == signal.SIGTERM  # the second and third are harmless
        assert stop.requested
    finally:
        stop.close()


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_the_signal_handlers_before_are_back_after_close(number: signal.Signals) -> None:
    before = signal.getsignal(number)
    StopSignals().close()
    assert signal.getsignal(number) is before


def test_while_starting_the_first_stop_signal_interrupts_and_later_ones_do_not() -> None:
    stop = StopSignals()
    try:
        with pytest.raises(StopRequested), stop.interrupting():
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs before the next bytecode: it raises here
        os.kill(os.getpid(), signal.SIGTERM)  # during the clean-up after it: only noted
        assert stop.wait() == signal.SIGTERM
        with pytest.raises(StopRequested), stop.interrupting():  # a stop that came before the start: at once
            pass
    finally:
        stop.close()


@pytest.mark.parametrize(("number", "moment"), [(signal.SIGTERM, "ready"), (signal.SIGINT, "starting")])
def test_make_run_stops_when_its_process_group_is_signalled(tmp_path, number: signal.Signals, moment: str) -> None:
    # make passes the signal on to the runner, which also gets the group's own: twice, as `kill -- -PGID` does.
    state = tmp_path / "server.json"
    code, seconds, output = _stop_once(number, moment, 1, state, through_make=True)
    assert code is not None, f"still running after {seconds:.1f} s\n{output}"
    assert "stopped" in output and "Traceback" not in output, output  # the runner's own clean stop
    assert not state.exists()
