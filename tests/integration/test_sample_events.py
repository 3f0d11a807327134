"""The sample events in events/ (for `sam local invoke -e`) are valid input for their handlers."""

from __future__ import annotations

import json

import boto3
import pytest
from pytest_httpserver import HTTPServer

from local.events import LocalLambdaContext
from local.template import create_table, load_template
from scheduled_sends.adapters.token_table import TokenStore
from scheduled_sends.domain import tokens
from tests.support import OPERATIONS, OPS_OPERATIONS, ROOT, SCANNER_TIMEOUT_MS, load_handler


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

    summary = load_handler("expiry_scanner")(
        event, LocalLambdaContext(function_name="expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)
    )

    assert summary == {
        "due": 0,
        "warned": 0,
        "actioned": 0,
        "expired": 0,
        "reclaimed": 0,
        "drift": 0,
        "errors": 0,
        "items_read": 0,
        "reconciled": 0,
        "reconcile_due": 0,
        "sendgrid_calls": 0,
        "rate_limited": 0,
        "unreconcilable": 0,
        "stopped_early": 0,
    }


def test_the_authorizer_sample_event_is_refused_as_is_and_accepted_with_an_issued_token(aws, monkeypatch) -> None:
    create_table(boto3.client("dynamodb"), "tokens", load_template()["Resources"]["TeamTokensTable"]["Properties"])
    monkeypatch.setenv("TEAM_TOKENS_TABLE_NAME", "tokens")
    token, record = tokens.new_token("marketing", ["marketing-subuser"], now=0)
    TokenStore(boto3.resource("dynamodb").Table("tokens")).add(record)
    event = json.loads((ROOT / "events" / "token_authorizer.json").read_text())
    authorizer = load_handler("token_authorizer")

    with pytest.raises(Exception, match=r"^Unauthorized$"):  # the placeholder is not a token
        authorizer(event, LocalLambdaContext(function_name="token_authorizer"))
    event["headers"]["Authorization"] = event["multiValueHeaders"]["Authorization"][0] = f"Bearer {token}"
    answer = authorizer(event, LocalLambdaContext(function_name="token_authorizer"))
    assert answer["principalId"] == "team:marketing"
    assert answer["context"]["subusers"] == "marketing-subuser"


@pytest.mark.parametrize(("operation", "status"), [("ops_list_batches", 200), ("ops_get_batch", 404)])
def test_the_on_call_sample_events_are_answered_from_the_table(
    fake_sendgrid: HTTPServer, operation: str, status: int
) -> None:
    event = json.loads((ROOT / "events" / f"{operation}.json").read_text())
    assert (event["httpMethod"], event["resource"]) == OPS_OPERATIONS[operation]
    response = load_handler(operation)(event, LocalLambdaContext(function_name=operation))
    assert response["statusCode"] == status, response  # the table is empty: an empty page, a batch not found
    assert fake_sendgrid.log == []  # never SendGrid


def test_the_widget_sample_event_draws_the_at_risk_page(fake_sendgrid: HTTPServer) -> None:
    event = json.loads((ROOT / "events" / "at_risk_widget.json").read_text())
    page = load_handler("at_risk_widget")(event, LocalLambdaContext(function_name="at_risk_widget"))
    assert "No paused batch expires" in page
