"""How `python -m local` learns it must stop: SIGINT and SIGTERM, taking no lock in the signal handler.

A Python signal handler runs in the main thread between two bytecodes - also in the middle of code that holds
a lock. A handler that calls `threading.Event.set()` while the main thread waits on that same Event deadlocks
when a second signal lands while the first handler holds the Event's condition lock (make passes SIGTERM on to
its child, so `kill -- -PGID` delivers it twice): the second handler waits for a lock its own thread holds.

Here the handler only stores the signal's number in a plain attribute, and the interpreter's C-level handler
writes a byte to a pipe (`signal.set_wakeup_fd`); the main thread blocks reading that pipe. Neither side takes
a lock, so any number of signals, at any moment, are harmless. While the stack starts (seconds, on a busy
machine), the first signal instead raises StopRequested in the main thread, so a Ctrl-C need not wait for a
start it cancels; the runner then exits without undoing anything (all of it lives in the process).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(Exception):
    """A stop signal came while `StopSignals.interrupting()` was in force."""


class StopSignals:
    """Catches SIGINT and SIGTERM from construction on (main thread only); `wait()` returns once one came."""

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.received: int | None = None
        self._interrupting = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # a full pipe drops the byte rather than blocking the handler
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._previous = {number: signal.signal(number, self._note) for number in signals}

    def _note(self, number: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = number  # plain stores and reads only: no lock
        if first and self._interrupting:
            raise StopRequested(number)  # once: a second signal must not interrupt the first one's handling

    @contextmanager
    def interrupting(self) -> Iterator[None]:
        """Within the block, the first stop signal (or one that came before it) raises StopRequested."""
        if self.received is not None:
            raise StopRequested(self.received)
        self._interrupting = True
        try:
            yield
        finally:
            self._interrupting = False

    @property
    def requested(self) -> bool:
        """Whether a stop signal came (e.g. during startup: then there is nothing to start)."""
        return self.received is not None

    def wait(self) -> int:
        """Block until a stop signal has come (returns at once if one already did); the signal's number."""
        if self.received is not None:
            return self.received
        # The byte the C-level handler wrote is the signal's number; PEP 475 retries a read a signal interrupted.
        return os.read(self._read, 1)[0]

    def close(self) -> None:
        """Put back the handlers and wakeup fd that were there before (for tests running in one process)."""
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)
