"""Pure retry timing for SendGrid calls: exponential backoff with full jitter, or what SendGrid asks for."""

from __future__ import annotations

import random
from collections.abc import Mapping

_rng = random.SystemRandom()  # the one source of randomness for retries


def full_jitter(attempt: int, base: float, cap: float, draw: float | None = None) -> float:
    """A delay in [0, min(cap, base * 2**attempt)); `draw` in [0, 1) replaces the random draw in tests."""
    ceiling: float = min(cap, base * (2**attempt))
    return ceiling * (_rng.random() if draw is None else draw)


def requested_wait(headers: Mapping[str, str], now_epoch: float) -> float | None:
    """Seconds SendGrid asks us to wait: Retry-After (seconds), else X-RateLimit-Reset (epoch seconds)."""
    retry_after = headers.get("Retry-After")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    reset = headers.get("X-RateLimit-Reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - now_epoch)
        except ValueError:
            pass
    return None
