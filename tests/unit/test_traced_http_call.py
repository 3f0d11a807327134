"""The SendGrid call's X-Ray subsegment (observability.traced_http_call): named after the host in the "remote"
namespace, with the method, the URL without its query (subuser names travel in queries) and the status; nothing
is recorded when tracing is off. X-Ray's own model objects, a recorder of the test's."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from aws_xray_sdk.core.models.segment import Segment
from aws_xray_sdk.core.models.subsegment import Subsegment

from scheduled_sends.runtime import observability
from scheduled_sends.runtime.observability import traced_http_call

URL = "https://api.sendgrid.com/v3/subusers?username=acme-private-name&limit=1"


class _Recorder:
    def __init__(self) -> None:
        self.subsegments: list[Subsegment] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: str, namespace: str) -> Iterator[Subsegment]:
        subsegment = Subsegment(name, namespace, Segment("scheduled-sends"))
        self.subsegments.append(subsegment)
        yield subsegment


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    recorder = _Recorder()
    monkeypatch.setattr(observability, "xray_recorder", recorder)
    return recorder


def test_a_traced_call_records_the_method_the_url_without_its_query_and_the_status(
    recorder: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(observability.global_sdk_config, "sdk_enabled", lambda: True)

    answer = traced_http_call("api.sendgrid.com", "GET", URL, lambda: SimpleNamespace(status=200))

    assert answer.status == 200
    (subsegment,) = recorder.subsegments
    assert (subsegment.name, subsegment.namespace) == ("api.sendgrid.com", "remote")
    assert subsegment.http == {
        "request": {"method": "GET", "url": "https://api.sendgrid.com/v3/subusers"},
        "response": {"status": 200},
    }
    assert "acme-private-name" not in json.dumps(subsegment.http)


def test_with_tracing_off_the_call_is_made_and_nothing_is_recorded(
    recorder: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(observability.global_sdk_config, "sdk_enabled", lambda: False)

    assert traced_http_call("api.sendgrid.com", "GET", URL, lambda: "answered") == "answered"
    assert recorder.subsegments == []
