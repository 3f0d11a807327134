"""How long paused batches have left before SendGrid discards them: the dashboard's buckets, pure."""

from __future__ import annotations

EXPIRY_BUCKETS = ("expired", "under-1h", "1h-6h", "6h-24h", "24h-72h", "over-72h", "unknown")
_BUCKET_LIMITS = (
    (0, "expired"),
    (3600, "under-1h"),
    (6 * 3600, "1h-6h"),
    (24 * 3600, "6h-24h"),
    (72 * 3600, "24h-72h"),
)


def expiry_bucket(expires_at: int | None, now: int) -> str:
    if expires_at is None:
        return "unknown"  # holds nothing the service knows of
    left = expires_at - now
    return next((name for limit, name in _BUCKET_LIMITS if left <= limit), "over-72h")
