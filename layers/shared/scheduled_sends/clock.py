"""The one source of the current time, so tests can move it (they never sleep)."""

from __future__ import annotations

import time


def now() -> int:
    """Unix seconds."""
    return int(time.time())
