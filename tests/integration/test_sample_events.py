"""The sample events in events/ (for `sam local invoke -e`) are valid input for their handlers."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from local.events import LocalLambdaContext
from tests.support import OPERATIONS, ROOT, load_handler


@pytest.fixture(autouse=True)
def _sample_caller_is_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    # The samples' caller is an assumed-role session; admins are listed by role, as operators write them.
    monkeypatch.setenv("ADMIN_PRINCIPALS", "arn:aws:iam::111122223333:role/marketing-app")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_sample_event_reaches_sendgrid_as_its_operation(fake_sendgrid: HTTPServer, operation: str) -> None:
    event = json.loads((ROOT / "events" / f"{operation}.json").read_text())
    method, resource = OPERATIONS[operation]
    assert (event["httpMethod"], event["resource"]) == (method, resource)
    fake_sendgrid.expect_request("/v3" + event["path"], method=method).respond_with_json({}, status=200)

    response = load_handler(operation)(event, LocalLambdaContext(function_name=operation))

    assert response["statusCode"] == 200, response
    request, _ = fake_sendgrid.log[0]
    assert request.headers["on-behalf-of"] == "marketing-subuser"


def test_the_scanner_sample_event_runs_a_scan(sandbox_sendgrid, clock) -> None:
    event = json.loads((ROOT / "events" / "expiry_scanner.json").read_text())
    assert event["detail-type"] == "Scheduled Event"

    summary = load_handler("expiry_scanner")(event, LocalLambdaContext(function_name="expiry_scanner"))

    assert summary == {
        "due": 0,
        "warned": 0,
        "actioned": 0,
        "expired": 0,
        "reclaimed": 0,
        "drift": 0,
        "errors": 0,
        "items_read": 0,
    }
