"""Everything a caller sent is checked before SendGrid is called; a caller's mistake is never swallowed after.

The record step runs after SendGrid applied a change: an error there used to be logged as a failed state
write while the caller got SendGrid's success, so an invalid `expiry_action` was forwarded and then lost.
"""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters.batches_table import batch_store
from scheduled_sends.domain import validation
from scheduled_sends.domain.errors import BadRequest
from scheduled_sends.entry import bootstrap
from tests.parts import FailingWrites
from tests.support import error_of, invoke

TEAM = "arn:aws:iam::111122223333:user/team-a"


def _create() -> str:
    response = invoke("create_batch_id", caller_arn=TEAM)
    assert response["statusCode"] == 201, response
    return json.loads(response["body"])["batch_id"]


def _reached_sendgrid(sandbox: SendGridSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sandbox.requests if r.path.startswith("/v3/user/scheduled_sends")]


@pytest.mark.parametrize("expiry_action", ["Resume", "deliver", "", 1, ["resume"]])
def test_an_invalid_expiry_action_on_a_pause_is_refused_before_sendgrid(
    sandbox_sendgrid: SendGridSandbox, clock, expiry_action
) -> None:
    batch = _create()

    response = invoke(
        "pause_or_cancel",
        body={"batch_id": batch, "status": "pause", "expiry_action": expiry_action},
        caller_arn=TEAM,
    )

    assert response["statusCode"] == 400
    assert error_of(response)["field"] == "expiry_action"
    assert _reached_sendgrid(sandbox_sendgrid) == []  # nothing was paused at SendGrid
    assert sandbox_sendgrid.statuses() == {}
    assert batch_store().get("parent", batch).status is None


@pytest.mark.parametrize("expiry_action", ["Resume", "deliver", "", 1, ["resume"]])
def test_an_invalid_expiry_action_on_a_status_change_is_refused_before_sendgrid(
    sandbox_sendgrid: SendGridSandbox, clock, expiry_action
) -> None:
    batch = _create()
    assert invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)["statusCode"] == 201
    before = _reached_sendgrid(sandbox_sendgrid)

    response = invoke(
        "update_scheduled_send",
        batch_id=batch,
        body={"status": "cancel", "expiry_action": expiry_action},
        caller_arn=TEAM,
    )

    assert response["statusCode"] == 400
    assert error_of(response)["field"] == "expiry_action"
    assert _reached_sendgrid(sandbox_sendgrid) == before  # no PATCH reached SendGrid
    assert sandbox_sendgrid.statuses() == {batch: "pause"}


def test_a_callers_mistake_found_only_after_sendgrid_applied_the_change_is_answered_not_swallowed(
    sandbox_sendgrid: SendGridSandbox, clock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Should a check ever move into the record step again (as it was), the caller must still hear of it: a store
    # whose write makes such a check (it raises the caller's mistake, after SendGrid was called).
    batch = _create()

    def late_check() -> BaseException:
        try:
            validation.expiry_action("Resume")
        except BadRequest as mistake:
            return mistake
        raise AssertionError("'Resume' is no expiry action")

    bootstrap.use(store=FailingWrites(bootstrap.services().store, late_check))
    response = invoke(
        "pause_or_cancel", body={"batch_id": batch, "status": "pause", "expiry_action": "resume"}, caller_arn=TEAM
    )

    assert response["statusCode"] == 400
    error = error_of(response)
    assert error["field"] == "expiry_action"
    assert "SendGrid had already applied" in error["message"]  # and says what did happen
    output = capsys.readouterr().out
    assert '"ValidationAfterSideEffect":[1.0]' in output
    assert '"StateWriteFailed"' not in output  # not hidden among table failures


def test_a_batch_id_sendgrid_answers_that_the_service_cannot_use_is_sendgrids_fault_not_the_callers(
    fake_sendgrid: HTTPServer,
) -> None:
    fake_sendgrid.expect_request("/v3/mail/batch", method="POST").respond_with_json({"batch_id": "../x"}, status=201)

    response = invoke("create_batch_id", caller_arn=TEAM)

    assert response["statusCode"] == 502  # not a 400 blaming the caller's input
    assert "batch id" in error_of(response)["message"]
