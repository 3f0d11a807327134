"""SnapStart runtime hooks (the `snapshot_restore_py` library is part of Lambda's Python runtime).

Before the snapshot: build the per-container clients, so a restored container starts with them.
After restore: drop any pooled SendGrid connection, which would belong to a different host and time.
The key is never read before the snapshot, so it is never stored in one.
"""

from __future__ import annotations

from .sendgrid import sendgrid_client
from .store import batch_store


def build_clients() -> None:
    sendgrid_client()
    batch_store()


def drop_pooled_connections() -> None:
    sendgrid_client().close_connections()


try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # outside Lambda (tests, the local runner): nothing snapshots
    pass
else:
    register_before_snapshot(build_clients)
    register_after_restore(drop_pooled_connections)
