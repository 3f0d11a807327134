"""SnapStart runtime hooks (the `snapshot_restore_py` library is part of Lambda's Python runtime).

Before the snapshot: build the per-container clients, so a restored container starts with them.
After restore: drop any pooled SendGrid connection, which would belong to a different host and time.
The key is never read before the snapshot, so it is never stored in one. Each entry point registers the
hooks when its handler is built (`register_hooks`), once per process.
"""

from __future__ import annotations

from .bootstrap import services

_registered = False


def build_clients() -> None:
    built = services()
    _ = built.sendgrid, built.store  # built now, so a restored container starts with them


def drop_pooled_connections() -> None:
    services().sendgrid.close_connections()


def register_hooks() -> bool:
    """Register both hooks with Lambda's runtime; False outside Lambda (tests, the local runner), where
    nothing snapshots and the library is absent."""
    global _registered
    if _registered:
        return True
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(build_clients)
    register_after_restore(drop_pooled_connections)
    _registered = True
    return True
