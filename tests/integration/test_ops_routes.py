"""The on-call routes across accounts (GET /v3/ops/batches, GET /v3/ops/batches/{batch_id}) through their handlers
with moto and the SendGrid sandbox: admins only, answered from the table, sorted by time left, paginated with a
token bound to its query, one batch with its recent changes; and the scanner's at-risk gauges."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters.batches_table import batch_store
from scheduled_sends.app.ops_queries import at_risk, at_risk_gauges
from scheduled_sends.domain import ops_view
from scheduled_sends.domain.send_windows import EXPIRY_SECONDS
from tests.support import ROOT, SCANNER_TIMEOUT_MS, error_of, invoke, load_handler

TEAM_A = "arn:aws:iam::111122223333:user/team-a"
TEAM_B = "arn:aws:iam::111122223333:user/team-b"
ADMIN_SESSION = "arn:aws:sts::111122223333:assumed-role/oncall/alice"
ADMIN_ROLE = "arn:aws:iam::111122223333:role/oncall"
HOUR = 3600


@pytest.fixture(autouse=True)
def _admins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPALS", ADMIN_ROLE)
    monkeypatch.setenv("STACK_NAME", "prod-sends")


def _pause(caller: str, on_behalf_of: str | None, send_at: int, **extra: Any) -> str:
    headers = [("Content-Type", "application/json")] + ([("on-behalf-of", on_behalf_of)] if on_behalf_of else [])
    created = invoke("create_batch_id", caller_arn=caller, headers=headers, body={"send_at": send_at})
    assert created["statusCode"] == 201, created
    real_id = json.loads(created["body"])["batch_id"]
    answer = invoke(
        "pause_or_cancel",
        caller_arn=caller,
        headers=headers,
        body={"batch_id": real_id, "status": "pause", "send_at": send_at, **extra},
    )
    assert answer["statusCode"] == 201, answer
    return real_id


def _list(query: str = "", caller: str = ADMIN_SESSION) -> dict[str, Any]:
    answer = invoke("ops_list_batches", caller_arn=caller, query=query, headers=[])
    assert answer["statusCode"] == 200, answer
    return json.loads(answer["body"])


@pytest.fixture
def three_accounts(sandbox_sendgrid: SendGridSandbox, clock) -> dict[str, str]:
    """Two teams pause batches in three accounts; once the clock moves, they expire in 40 min, 3 h 40 min and
    30 h 40 min (the last one with an expiry action)."""
    now = clock.now
    ids = {
        "soon": _pause(TEAM_A, "acme", now + 20 * 60),
        "later": _pause(TEAM_B, None, now + 3 * HOUR + 20 * 60),
        "protected": _pause(TEAM_A, "account-id 42", now + 30 * HOUR + 20 * 60, expiry_action="resume"),
    }
    clock.now = now + EXPIRY_SECONDS - 20 * 60  # the first expires 40 min from here
    return ids


def test_a_non_admin_gets_403_from_both_routes(three_accounts: dict[str, str]) -> None:
    for operation, batch_id in (("ops_list_batches", None), ("ops_get_batch", three_accounts["soon"])):
        answer = invoke(operation, caller_arn=TEAM_A, batch_id=batch_id, headers=[], query="account=acme")
        assert answer["statusCode"] == 403, answer
        assert "admins" in error_of(answer)["message"]


def test_the_list_is_sorted_by_time_left_across_accounts_with_iso_times(
    three_accounts: dict[str, str], clock, sandbox_sendgrid: SendGridSandbox
) -> None:
    calls_before = len(sandbox_sendgrid.requests)
    listed = _list()
    assert len(sandbox_sendgrid.requests) == calls_before  # answered from the table alone
    assert [b["batch_id"] for b in listed["batches"]] == [
        three_accounts["soon"],
        three_accounts["later"],
        three_accounts["protected"],
    ]
    first = listed["batches"][0]
    assert first["account"] == "acme" and first["on_behalf_of"] == "acme" and first["region"] == "global"
    assert first["owner"] == TEAM_A and first["status"] == "pause" and first["expiry_action"] is None
    assert first["seconds_left"] == first["expires_at"] - clock.now == 40 * 60
    assert first["expires_at_basis"] == "send_at"
    assert first["expires_at_iso"].endswith("Z") and first["send_at_iso"] and first["updated_at_iso"]
    assert listed["batches"][1]["account"] == "parent" and listed["batches"][1]["on_behalf_of"] is None
    assert listed["batches"][2]["account"] == "account-id 42"
    assert listed["now"] == clock.now and listed["next_token"] is None
    assert set(first) == {
        "batch_id", "account", "on_behalf_of", "region", "owner", "status", "send_at", "send_at_iso",
        "last_send_at", "last_send_at_iso", "expires_at", "expires_at_iso", "expires_at_basis", "seconds_left",
        "expiry_action", "updated_at", "updated_at_iso",
    }  # fmt: skip


def test_filters_by_expiry_account_owner_and_status(three_accounts: dict[str, str]) -> None:
    assert [b["batch_id"] for b in _list("expires_within=1h")["batches"]] == [three_accounts["soon"]]
    assert [b["batch_id"] for b in _list("expires_within=14400&status=pause")["batches"]] == [
        three_accounts["soon"],
        three_accounts["later"],
    ]
    assert [b["batch_id"] for b in _list("account=parent")["batches"]] == [three_accounts["later"]]
    assert [b["batch_id"] for b in _list("account=account-id%2042")["batches"]] == [three_accounts["protected"]]
    assert [b["batch_id"] for b in _list(f"owner={TEAM_B}")["batches"]] == [three_accounts["later"]]
    assert _list("status=cancel")["batches"] == []


def test_pages_follow_the_token_and_a_token_cannot_leave_its_query(three_accounts: dict[str, str]) -> None:
    seen, token = [], None
    while True:
        page = _list("limit=1" + (f"&next_token={token}" if token else ""))
        seen += [b["batch_id"] for b in page["batches"]]
        token = page["next_token"]
        if token is None:
            break
    assert seen == [three_accounts["soon"], three_accounts["later"], three_accounts["protected"]]
    first_token = _list("limit=1")["next_token"]
    for query in (f"account=acme&next_token={first_token}", "next_token=eyJ2IjoxfQ"):  # another query; not ours
        answer = invoke("ops_list_batches", caller_arn=ADMIN_SESSION, headers=[], query=query)
        assert answer["statusCode"] == 400 and error_of(answer)["field"] == "next_token"


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("status=paused", "status"),
     ("expires_within=soon", "expires_within"), ("account=a%0Ab", "account"), ("colour=red", "colour"),
     ("limit=1&limit=2", "limit")],
)  # fmt: skip
def test_bad_query_parameters_are_400_naming_the_field(three_accounts: dict[str, str], query: str, field: str) -> None:
    answer = invoke("ops_list_batches", caller_arn=ADMIN_SESSION, headers=[], query=query)
    assert answer["statusCode"] == 400, answer
    assert error_of(answer)["field"] == field


def test_one_batch_has_its_history_newest_first_and_a_missing_one_is_404(three_accounts: dict[str, str], clock) -> None:
    batch_id = three_accounts["soon"]
    resumed = invoke(
        "resume_scheduled_send", caller_arn=ADMIN_SESSION, batch_id=batch_id, headers=[("on-behalf-of", "acme")],
        request_id="r-resume",
    )  # fmt: skip
    assert resumed["statusCode"] == 204, resumed
    answer = invoke("ops_get_batch", caller_arn=ADMIN_SESSION, batch_id=batch_id, headers=[], query="account=acme")
    assert answer["statusCode"] == 200, answer
    found = json.loads(answer["body"])
    assert found["status"] == "none" and found["account"] == "acme" and found["owner"] == TEAM_A
    history = found["history"]
    assert [(h["previous_status"], h["status"]) for h in history] == [("pause", "none"), ("none", "pause")]
    assert history[0]["changed_by"] == ADMIN_ROLE and history[0]["caller"] == ADMIN_SESSION
    assert history[0]["request_id"] == "r-resume" and history[0]["detail_type"] == "Scheduled Send Resumed"
    assert history[0]["changed_at"] == clock.now and history[0]["changed_at_iso"].endswith("Z")
    assert history[1]["changed_by"] == TEAM_A and history[0]["event_id"] != history[1]["event_id"]

    missing = invoke("ops_get_batch", caller_arn=ADMIN_SESSION, batch_id=batch_id, headers=[])  # the parent's
    assert missing["statusCode"] == 404
    assert "GET /v3/ops/batches" in error_of(missing)["message"]


def test_at_risk_and_the_gauges_count_paused_batches_without_an_expiry_action(
    three_accounts: dict[str, str], clock
) -> None:
    store = batch_store()
    gauges = at_risk_gauges(store, clock.now).metrics()
    assert gauges == {
        "PausedExpiringWithin1h": 1,
        "PausedExpiringWithin6h": 2,
        "PausedUnprotectedExpiringWithin1h": 1,
        "PausedUnprotectedExpiringWithin6h": 2,
    }
    listed = at_risk(store, clock.now, lambda on_behalf_of: "global")
    assert [b["batch_id"] for b in listed] == [three_accounts["soon"], three_accounts["later"]]
    clock.now += 3 * HOUR  # the first expired (stated send_at: discarded, nothing to protect); "later" nears
    assert at_risk_gauges(store, clock.now).metrics()["PausedUnprotectedExpiringWithin1h"] == 1


def test_each_scanner_run_publishes_the_four_at_risk_gauges_and_iso_times_in_its_events(
    three_accounts: dict[str, str], clock, capsys: pytest.CaptureFixture[str], published_events
) -> None:
    published_events()  # the changes so far
    capsys.readouterr()
    load_handler("expiry_scanner")(
        {"source": "aws.events"}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (gauges,) = [line for line in lines if "PausedUnprotectedExpiringWithin1h" in line]
    (directive,) = gauges["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["service"]]  # stack-level: no account, no batch
    assert {name: gauges[name] for name in ("PausedUnprotectedExpiringWithin1h", "PausedUnprotectedExpiringWithin6h",
                                            "PausedExpiringWithin1h", "PausedExpiringWithin6h")} == {
        "PausedUnprotectedExpiringWithin1h": [1.0], "PausedUnprotectedExpiringWithin6h": [2.0],
        "PausedExpiringWithin1h": [1.0], "PausedExpiringWithin6h": [2.0],
    }  # fmt: skip
    warnings = [e["detail"] for e in published_events() if e["detail-type"] == "Scheduled Send Expiry Warning"]
    assert warnings  # validated against their schema on the way (the _iso fields are required there)
    for detail in warnings:
        assert detail["expires_at_iso"] == ops_view.iso(detail["expires_at"])
        assert detail["send_at_iso"] == ops_view.iso(detail["send_at"])
        assert detail["last_send_at_iso"] is None and detail["last_send_at"] is None


def test_the_dashboard_widget_documents_itself_and_draws_the_batches_at_risk(three_accounts: dict[str, str]) -> None:
    widget = load_handler("at_risk_widget")
    docs = widget({"describe": True}, LocalLambdaContext("at_risk_widget"))
    assert docs.startswith("## Paused batches at risk")
    anchor = re.search(r"alarms\.md#([\w-]+)", docs)
    assert anchor, docs
    headings = re.findall(r"^## (\w+)$", (ROOT / "docs" / "operations" / "alarms.md").read_text(), re.M)
    assert anchor.group(1) in {heading.lower() for heading in headings}  # the runbook section exists
    html = widget({"widgetContext": {"dashboardName": "prod-sends-scheduled-sends"}}, LocalLambdaContext("w"))
    assert html.index(three_accounts["soon"]) < html.index(three_accounts["later"])
    assert three_accounts["protected"] not in html  # 30 h left: not at risk
    assert f"scheduled-sends resume {three_accounts['soon']} --account acme --stack prod-sends" in html
    assert "40 min left" in html and "3 h 40 min left" in html
