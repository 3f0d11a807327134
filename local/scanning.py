"""The local stack's time and its expiry scanner: a clock that only moves forward (POST /_local/clock), and the
template's scheduled functions run as EventBridge's schedule would - every `scan_seconds`, or once when asked -
each run told in one short line."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from .events import LocalLambdaContext
from .functions import Handler

_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


class ClockRefused(ValueError):
    """A POST /_local/clock body that does not say how to move time forward."""


def duration_seconds(value: Any) -> int:
    """ "71h", "3d", "1h30m", "90s" or a number of seconds, as whole seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    found = _DURATION.fullmatch(value.strip()) if isinstance(value, str) and value.strip() else None
    if not found or not any(found.groupdict().values()):
        raise ClockRefused(f'advance takes a duration such as "71h", "30m", "1h30m" or seconds, not {value!r}')
    return sum(int(amount) * _UNIT_SECONDS[unit] for unit, amount in found.groupdict().items() if amount)


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class LocalClock:
    """Wall time moved forward by `offset`: what every function's clock (the layer's) and the sandboxes read."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> int:
        return int(time.time() + self.offset)

    def move(self, seconds: float) -> None:
        from scheduled_sends.runtime import clock  # the layer, on the path once the stack started

        if seconds < 0:
            raise ClockRefused("the local clock only moves forward")
        self.offset += seconds
        clock.move_by(self.offset)

    def reset(self) -> None:
        """The process's time is wall time again."""
        if self.offset:
            from scheduled_sends.runtime import clock

            clock.move_by(0)

    def target(self, body: Any) -> int:
        """How far a POST /_local/clock body moves time: `advance` a duration, or to `at` unix seconds."""
        if not isinstance(body, dict) or len(body.keys() & {"advance", "at"}) != 1 or set(body) - {"advance", "at"}:
            raise ClockRefused('send {"advance": "71h"} (or "30m", "1h30m", seconds) or {"at": <unix seconds>}')
        if "advance" in body:
            return duration_seconds(body["advance"])
        if isinstance(body["at"], int | float) and not isinstance(body["at"], bool):
            return int(body["at"]) - self.now()
        raise ClockRefused(f"at takes unix seconds, not {body['at']!r}")


class ScannerLoop:
    """The scheduled functions, run once (`scan_now`, `scan_and_report`) or every `seconds` in a thread."""

    def __init__(self, log: Callable[[str], None], seconds: float, now: Callable[[], int]) -> None:
        self._log, self.seconds, self._now = log, seconds, now
        # The latest scan_and_report (local stack time), for GET /_local/clock: "did the scanner run recently?"
        self.last_scan: dict[str, Any] | None = None
        self.scanners: list[Handler] = []
        self._scanning = threading.local()  # set in the thread running a scan (`python -m local` quiets its metrics)
        self._thread: threading.Thread | None = None

    def scan_now(self) -> list[Any]:
        """Run every scheduled function once with a scheduled event, as EventBridge would."""
        self._scanning.active = True
        try:
            return [scanner(SCHEDULED_EVENT, LocalLambdaContext(function_name="scanner")) for scanner in self.scanners]
        finally:
            self._scanning.active = False

    def scanning(self) -> bool:
        """Whether the calling thread is running a scan."""
        return getattr(self._scanning, "active", False)

    def scan_and_report(self) -> dict[str, Any]:
        """One scanner run, told in one short line (the scanner's own summary log line is for CloudWatch): what
        it did, or that it failed (the next run retries, as Lambda's retry would)."""
        started = self._now()
        try:
            (counts,) = self.scan_now()
        except Exception as error:
            self._log(f"scan failed: {error}")
            self.last_scan = {"at": started, "time": iso(started), "error": str(error)}
            return {"error": str(error)}
        self._log("scan: " + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items()))
        self.last_scan = {"at": started, "time": iso(started), "counts": counts}
        return counts

    def start(self, stopping: threading.Event) -> None:
        """Scan every `seconds` (none when 0) until `stopping` is set."""
        if self.seconds <= 0:
            return

        def forever() -> None:
            while not stopping.wait(self.seconds):
                self.scan_and_report()

        self._thread = threading.Thread(target=forever, name="local-scanner", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread:
            self._thread.join(timeout=30)
