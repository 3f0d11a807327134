"""`scheduled-sends smoke`: after a deploy, one batch of its own through every operation, its change events
seen on the bus, the scanner seen running; each step with its latency. It touches no batch it did not create and
removes what it made (the temporary subscription; its batch is resumed), even when a step fails."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from . import table
from .api import Answer, Api, batch_path
from .bus_watch import BusWatch
from .outcome import CommandFailed
from .progress import Progress

# What the bus must carry for the smoke batch: POST pause, PATCH cancel, DELETE.
EXPECTED_EVENTS = ("Scheduled Send Paused", "Scheduled Send Status Changed", "Scheduled Send Resumed")


@dataclass
class Step:
    name: str
    ok: bool | None = None  # None: not run (an earlier step failed)
    seconds: float = 0.0
    detail: str = ""


@dataclass
class SmokeRun:
    steps: list[Step] = field(default_factory=list)
    batch_id: str | None = None
    left_behind: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps) and not self.left_behind

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "batch_id": self.batch_id,
            "steps": [
                {"step": s.name, "ok": s.ok, "seconds": round(s.seconds, 3), "detail": s.detail} for s in self.steps
            ],
            "left_behind": self.left_behind,
        }


def _timed(run: SmokeRun, name: str, action: Callable[[], str]) -> None:
    step = Step(name)
    run.steps.append(step)
    started = time.monotonic()
    try:
        step.detail = action()
        step.ok = True
    except CommandFailed as failure:
        step.ok, step.detail = False, str(failure)
        raise
    except Exception as error:  # an AWS call refused (permissions, throttling): reported as the step's failure
        step.ok, step.detail = False, f"{type(error).__name__}: {error}"
        raise CommandFailed(step.detail) from error
    finally:
        step.seconds = time.monotonic() - started


def _expect(answer: Answer, what: str, status: int) -> Answer:
    if answer.status != status:
        raise CommandFailed(f"{what}: expected {status}, got {answer.status} {answer.body}")
    return answer


def _took(answer: Answer) -> str:
    return f"{answer.status} in {answer.seconds * 1000:.0f} ms"


def smoke(
    api: Api,
    watch: BusWatch,
    check_scanner: Callable[[], str],
    on_behalf_of: str | None,
    *,
    events_timeout: float = 60.0,
    stderr: TextIO | None = None,
) -> SmokeRun:
    """Runs every step; the first failure stops the steps after it, never the clean-up."""
    run = SmokeRun()
    paused = False
    path = ""

    def call(method: str, route: str, body: Any = None) -> Answer:
        return api.call(method, route, body=body, on_behalf_of=on_behalf_of)

    def create() -> str:
        nonlocal path
        answer = _expect(call("POST", "/mail/batch"), "create a batch id", 201)
        run.batch_id = answer.body["batch_id"]
        path = f"/user/scheduled_sends/{batch_path(run.batch_id)}"
        return f"{run.batch_id} ({_took(answer)})"

    def pause() -> str:
        nonlocal paused
        answer = call("POST", "/user/scheduled_sends", {"batch_id": run.batch_id, "status": "pause"})
        paused = answer.status == 201  # from here on the clean-up resumes it
        return _took(_expect(answer, "pause", 201))

    def read() -> str:
        answer = _expect(call("GET", path), "read", 200)
        statuses = [e.get("status") for e in answer.body if e.get("batch_id") == run.batch_id]
        if statuses != ["pause"]:
            raise CommandFailed(f"read: expected status pause, got {answer.body}")
        return f"status pause ({_took(answer)})"

    def listed() -> str:
        answer = _expect(call("GET", "/user/scheduled_sends"), "list", 200)
        if not any(e.get("batch_id") == run.batch_id for e in answer.body):
            raise CommandFailed(f"list: {run.batch_id} is not among the {len(answer.body)} listed")
        return f"{len(answer.body)} listed, ours among them ({_took(answer)})"

    def cancel() -> str:
        return _took(_expect(call("PATCH", path, {"status": "cancel"}), "change to cancel", 204))

    def resume() -> str:
        nonlocal paused
        answer = _expect(call("DELETE", path), "resume", 204)
        paused = False
        return _took(answer)

    def events() -> str:
        progress = Progress("waiting for the change events on the bus", stderr)
        deadline = time.monotonic() + events_timeout
        try:
            while True:
                seen = watch.poll(max(0.0, min(5.0, deadline - time.monotonic())))
                types = {e.get("detail-type") for e in seen if (e.get("detail") or {}).get("batch_id") == run.batch_id}
                missing = [t for t in EXPECTED_EVENTS if t not in types]
                if not missing:
                    actors = {str(e["detail"]["changed_by"]) for e in seen if (e.get("detail") or {}).get("changed_by")}
                    return f"{len(EXPECTED_EVENTS)} change events, by {', '.join(sorted(actors)) or 'unknown'}"
                if time.monotonic() >= deadline:
                    raise CommandFailed(f"not on the bus after {events_timeout:.0f} s: {', '.join(missing)}")
                progress.tick(f"({len(EXPECTED_EVENTS) - len(missing)}/{len(EXPECTED_EVENTS)})")
        finally:
            progress.done()

    steps: list[tuple[str, Callable[[], str]]] = [
        ("create a batch id", create),
        ("subscribe to the bus", lambda: watch.open(str(run.batch_id))),
        ("pause", pause),
        ("read", read),
        ("list", listed),
        ("change to cancel", cancel),
        ("resume", resume),
        ("change events on the bus", events),
        ("scanner ran recently", check_scanner),
    ]
    try:
        for name, action in steps:
            _timed(run, name, action)
    except CommandFailed:
        run.steps.extend(Step(name) for name, _ in steps[len(run.steps) :])
    finally:
        if paused:  # a failure between pause and resume: the batch must not stay paused
            try:
                _timed(run, "clean-up: resume the smoke batch", resume)
            except CommandFailed as failure:
                run.left_behind.append(f"batch {run.batch_id} still paused or cancelled: {failure}")
        started = time.monotonic()
        subscription_left = watch.close()
        run.left_behind.extend(subscription_left)
        run.steps.append(
            Step(
                "remove the subscription",
                not subscription_left,
                time.monotonic() - started,
                "; ".join(subscription_left),
            )
        )
    return run


def print_run(run: SmokeRun, out: TextIO) -> None:
    marks = {True: "ok", False: "FAILED", None: "not run"}
    rows = [
        (s.name, marks[s.ok], f"{s.seconds * 1000:.0f} ms" if s.ok is not None else "-", s.detail) for s in run.steps
    ]
    out.write(table.render(("STEP", "RESULT", "LATENCY", "DETAIL"), rows) + "\n")
    if run.left_behind:
        out.write("\nLeft behind (delete by hand):\n" + "".join(f"  {what}\n" for what in run.left_behind))
    out.write(f"\nsmoke check {'passed' if run.ok else 'FAILED'} (batch {run.batch_id or 'none created'})\n")
