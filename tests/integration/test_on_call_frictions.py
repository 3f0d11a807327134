"""What a new operator tripped over: an admin who asks the parent account about a subuser's batch is told which
account holds it; every answer SendGrid gave says which region's host served it (header and log field)."""

from __future__ import annotations

import io
import json

import pytest

from local.sendgrid_sandbox import SendGridSandbox
from tests.support import invoke

TEAM = "arn:aws:iam::111122223333:user/team-a"
ADMIN = "arn:aws:iam::111122223333:user/oncall"
REGION_HEADER = "X-Scheduled-Sends-Region"


@pytest.fixture(autouse=True)
def _admins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPALS", ADMIN)


def _paused(on_behalf_of: str | None) -> str:
    headers = [("Content-Type", "application/json")] + ([("on-behalf-of", on_behalf_of)] if on_behalf_of else [])
    created = invoke("create_batch_id", caller_arn=TEAM, headers=headers)
    batch_id = json.loads(created["body"])["batch_id"]
    paused = invoke("pause_or_cancel", caller_arn=TEAM, headers=headers, body={"batch_id": batch_id, "status": "pause"})
    assert paused["statusCode"] == 201, paused
    return batch_id


@pytest.mark.parametrize("operation", ["get_scheduled_send", "validate_batch_id"])
def test_an_admin_asking_the_parent_about_a_subusers_batch_is_told_which_account_holds_it(
    sandbox_sendgrid: SendGridSandbox, operation: str
) -> None:
    batch_id = _paused("acme")
    answer = invoke(operation, caller_arn=ADMIN, batch_id=batch_id, headers=[])
    if answer["statusCode"] == 200:
        pytest.fail(f"the sandbox knows {batch_id} in the parent account: nothing to hint")
    document = json.loads(answer["body"])
    assert document["accounts"] == ["acme"]
    sendgrids, ours = document["errors"]
    assert sendgrids == {"field": None, "message": "invalid batch id" if operation == "validate_batch_id" else
                         "batch id not found"}  # fmt: skip
    assert ours["field"] == "on-behalf-of"
    assert '"on-behalf-of: acme"' in ours["message"] and "parent account" in ours["message"]


def test_with_no_row_anywhere_the_admin_is_told_how_to_look(sandbox_sendgrid: SendGridSandbox) -> None:
    _paused("acme")  # the registry knows accounts, none of which holds this id
    answer = invoke("get_scheduled_send", caller_arn=ADMIN, batch_id="never-seen", headers=[])
    assert answer["statusCode"] == 404
    document = json.loads(answer["body"])
    assert document["accounts"] == []
    assert "GET /v3/ops/batches" in document["errors"][1]["message"]


def test_a_team_or_an_admin_with_on_behalf_of_gets_sendgrids_answer_unchanged(
    sandbox_sendgrid: SendGridSandbox,
) -> None:
    batch_id = _paused("acme")
    as_admin = invoke("get_scheduled_send", caller_arn=ADMIN, batch_id=batch_id, headers=[("on-behalf-of", "beta")])
    assert as_admin["statusCode"] == 404
    assert set(json.loads(as_admin["body"])) == {"errors"}
    as_team = invoke("get_scheduled_send", caller_arn=TEAM, batch_id=batch_id, headers=[])
    assert as_team["statusCode"] == 403  # refused before SendGrid: the parent has no row of that batch


def test_every_forwarded_answer_names_the_region_that_served_it_in_a_header_and_the_log(
    regional_sandboxes: dict[str, SendGridSandbox], json_logs: io.StringIO
) -> None:
    for on_behalf_of, region in ((None, "global"), ("acme", "global"), ("eurocorp", "eu")):
        headers = [("on-behalf-of", on_behalf_of)] if on_behalf_of else []
        answer = invoke("list_scheduled_sends", caller_arn=ADMIN, headers=headers)
        assert answer["statusCode"] == 200, answer
        assert answer["headers"][REGION_HEADER] == region
        answered = [json.loads(line) for line in json_logs.getvalue().splitlines() if "request answered" in line]
        assert answered[-1]["sendgrid_region"] == region
