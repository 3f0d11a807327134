"""What reached the local bus, read in one place: the template's pipe turns the table's new stream records into
change events on the bus, then the tap reads every event off it (kept, printed, forwarded) - on request, and every
`seconds` in a thread as `make run` does. One lock, so two readers never split one delivery."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .bus import EventTap
from .pipe import LocalPipe


class EventFeed:
    def __init__(self, pipe: LocalPipe, tap: EventTap, log: Callable[[str], None], seconds: float) -> None:
        self.pipe, self.tap, self._log, self.seconds = pipe, tap, log, seconds
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def collect(self) -> list[dict[str, Any]]:
        """What reached the bus since the last look (change events put on it first)."""
        with self._lock:
            return self._collect()

    def _collect(self) -> list[dict[str, Any]]:
        self.pipe.pump()
        return self.tap.drain()

    def mark(self) -> int:
        """Everything on the bus collected, then where the kept events stand: `since(mark)` is what came after."""
        with self._lock:
            self._collect()
            return self.tap.mark()

    def since(self, mark: int) -> list[dict[str, Any]]:
        """Every event that reached the bus after `mark`, whoever read it off (this call waits for a collection
        under way in the thread: it may hold some of them)."""
        self.collect()
        return self.tap.kept_since(mark)

    def start(self, stopping: threading.Event) -> None:
        """Collect every `seconds` (never when 0) until `stopping` is set."""
        if self.seconds <= 0:
            return

        def forever() -> None:
            while not stopping.wait(self.seconds):
                try:
                    self.collect()
                except Exception as error:  # e.g. moto stopping under us; the next look tries again
                    self._log(f"reading the local bus failed: {error}")

        self._thread = threading.Thread(target=forever, name="local-events", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread:
            self._thread.join(timeout=30)
