"""A fresh Lambda container, in this process: forget every per-container cache of the layer package.

Used where one process plays many containers in turn (the tests, the bench); call it after the layer
package is importable (the local runner puts it on sys.path).
"""

from __future__ import annotations


def reset_container() -> None:
    """Settings, clients, the cached secret and the idempotency configuration are built again on next use."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters import base

    from scheduled_sends import idempotency
    from scheduled_sends.bus import event_bus
    from scheduled_sends.config import settings, team_tokens_table_name
    from scheduled_sends.sendgrid import sendgrid_client
    from scheduled_sends.store import batch_store, token_store

    for cached in (
        settings,
        team_tokens_table_name,
        sendgrid_client,
        batch_store,
        token_store,
        event_bus,
        idempotency._config,
        idempotency._idempotent,
    ):
        cached.cache_clear()
    parameters.clear_caches()
    base.DEFAULT_PROVIDERS.clear()
