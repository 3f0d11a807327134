"""Fixtures of the integration tests that drive interleavings step by step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def while_answer_held(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, Callable[[], Any]], None]]:
    """`hold(method, step)`: the next SendGrid call with `method` is applied by SendGrid, then `step` runs to
    completion before that call's answer is handed back to whoever made it."""
    from scheduled_sends.adapters.sendgrid.router import RegionalSendGrid  # imported once the environment is set

    pending: list[tuple[str, Callable[[], Any]]] = []
    original = RegionalSendGrid.call

    def call(self: RegionalSendGrid, method: str, path: str, **kwargs: Any) -> Any:
        answer = original(self, method, path, **kwargs)
        if pending and pending[0][0] == method:
            _, step = pending.pop(0)
            step()
        return answer

    monkeypatch.setattr(RegionalSendGrid, "call", call)
    yield lambda method, step: pending.append((method, step))
    assert pending == [], "a held step never ran"
