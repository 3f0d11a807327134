"""Time, in one place: the current time (tests move it, they never sleep) and the request's deadline.

The deadline is set by an entry point from the Lambda's remaining time; SendGrid retries, the
idempotency record and anything else that waits read it here, so nothing outlives the invocation or
API Gateway's 29 s.

The local runner moves the current time of every function it runs (`POST /_local/clock`) with `move_by`:
wall time plus an offset, for the whole process. Nothing deployed moves it (in Lambda the offset stays 0);
deadlines are on the monotonic clock and never move.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

_offset_seconds = 0.0  # how far the local runner has moved time (0 everywhere else)


def now() -> int:
    """Unix seconds."""
    return int(time.time() + _offset_seconds)


def epoch() -> float:
    """Unix seconds with a fraction (what SendGrid's X-RateLimit-Reset is compared with)."""
    return time.time() + _offset_seconds


def move_by(seconds: float) -> None:
    """From now on, `now()` and `epoch()` are wall time plus `seconds` (0 = wall time again), in every thread.
    For the local runner, whose functions all run in one process: it moves their time together."""
    global _offset_seconds
    _offset_seconds = float(seconds)


def offset() -> float:
    """How far `move_by` has moved time."""
    return _offset_seconds


def monotonic() -> float:
    return time.monotonic()


def sleep(seconds: float) -> None:
    """Wait (retries' backoff). With `monotonic`, what a test replaces to run deadlines on virtual time."""
    time.sleep(seconds)


_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


@contextmanager
def deadline_in(seconds: float) -> Iterator[None]:
    """The code inside must be done within `seconds` (a monotonic deadline for this request)."""
    token = _deadline.set(monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def deadline() -> float | None:
    """The current request's deadline on the monotonic clock, when an entry point set one."""
    return _deadline.get()


def remaining_seconds() -> float | None:
    """Time left before the current request's deadline, when an entry point set one."""
    current = _deadline.get()
    return None if current is None else current - monotonic()


class Clock:
    """The time as the application reads it, handed in by the composition root: each read goes to this module's
    functions (the ones the local runner and the tests move), so one `Clock` serves every container. A test that
    holds time (a run with time for so many reconciles, say) hands in a subclass."""

    def now(self) -> int:
        return now()

    def epoch(self) -> float:
        return epoch()

    def remaining_seconds(self) -> float | None:
        return remaining_seconds()

    def deadline(self) -> float | None:
        return deadline()

    def deadline_in(self, seconds: float) -> AbstractContextManager[None]:
        return deadline_in(seconds)

    def sleep(self, seconds: float) -> None:
        sleep(seconds)


SYSTEM_CLOCK = Clock()
