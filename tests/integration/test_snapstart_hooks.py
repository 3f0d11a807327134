"""The SnapStart hooks are registered by every handler, and a restored container still reaches SendGrid."""

from __future__ import annotations

import pytest
import snapshot_restore_py as runtime_hooks
from pytest_httpserver import HTTPServer

from tests.support import OPERATIONS, invoke, load_handler

pytestmark = pytest.mark.usefixtures("as_admin")


def _registered(registry: list) -> set[str]:
    return {f"{func.__module__}.{func.__name__}" for func, _args, _kwargs in registry}


@pytest.mark.parametrize("function", [*sorted(OPERATIONS), "expiry_scanner"])
def test_every_handler_registers_the_hooks(function: str) -> None:
    load_handler(function)
    assert "scheduled_sends.entry.snapstart.build_clients" in _registered(runtime_hooks._before_snapshot_registry)
    assert "scheduled_sends.entry.snapstart.drop_pooled_connections" in _registered(
        runtime_hooks._after_restore_registry
    )


def test_clients_built_before_the_snapshot_work_after_restore(fake_sendgrid: HTTPServer) -> None:
    from scheduled_sends.entry import snapstart

    fake_sendgrid.expect_request("/v3/user/scheduled_sends").respond_with_json([])
    snapstart.build_clients()  # at init, before the snapshot: no key is read, nothing is sent
    assert fake_sendgrid.log == []
    assert invoke("list_scheduled_sends")["statusCode"] == 200  # opens a keep-alive connection

    snapstart.drop_pooled_connections()  # after restore

    assert invoke("list_scheduled_sends")["statusCode"] == 200
    assert len(fake_sendgrid.log) == 2
