"""A progress line on stderr while the tool waits (only on a terminal: scripts get no carriage returns)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, what: str, stream: TextIO | None = None) -> None:
        self._what, self._stream = what, stream or sys.stderr
        self._started = time.monotonic()
        self._live = self._stream.isatty()
        if not self._live:
            self._stream.write(f"{what} ...\n")

    def tick(self, note: str = "") -> None:
        if self._live:
            waited = time.monotonic() - self._started
            self._stream.write(f"\r{self._what} ... {waited:.0f} s {note}".ljust(70))
            self._stream.flush()

    def done(self) -> None:
        if self._live:
            self._stream.write("\r" + " " * 70 + "\r")
            self._stream.flush()
