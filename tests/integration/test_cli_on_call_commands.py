"""`scheduled-sends at-risk|show|resume|cancel --stack NAME` against a deployed stack: the stack found by its
outputs in CloudFormation (moto), the admin routes answered by a fake server implementing the `/ops/` contract
(pytest-httpserver), every request SigV4-signed with the operator's credentials."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from scheduled_sends_cli.__main__ import main

STACK = "sends-prod"
NOW = 1796394180


def _batch(batch_id: str, on_behalf_of: str | None, seconds_left: int, **extra: Any) -> dict[str, Any]:
    expires = NOW + seconds_left
    return {
        "batch_id": batch_id,
        "account": on_behalf_of or "parent",
        "on_behalf_of": on_behalf_of,
        "region": "global",
        "owner": "arn:aws:iam::111122223333:role/payments",
        "status": "pause",
        "send_at": NOW - 70 * 3600,
        "send_at_iso": "",
        "last_send_at": None,
        "last_send_at_iso": None,
        "expires_at": expires,
        "expires_at_iso": "",
        "expires_at_basis": "send_at",
        "seconds_left": seconds_left,
        "expiry_action": None,
        "updated_at": NOW - 3600,
        "updated_at_iso": "",
        **extra,
    }


class FakeOps:
    """The `/ops/` contract and SendGrid's resume/cancel, recording every request."""

    def __init__(self, server: HTTPServer) -> None:
        self.requests: list[Request] = []
        self.batches = {
            "b-soon": _batch("b-soon", "acme", 47 * 60 + 30),
            "b-later": _batch("b-later", "account-id 42", 3 * 3600),
            "b-parent": _batch("b-parent", None, 5 * 3600, expiry_action="resume"),
        }
        self.ops_status = 200
        server.expect_request("/v3/ops/batches").respond_with_handler(self.listing)
        server.expect_request("/v3/ops/batches/b-soon").respond_with_handler(self.one)
        server.expect_request("/v3/ops/batches/missing").respond_with_handler(self.one)
        server.expect_request("/v3/user/scheduled_sends/b-soon").respond_with_handler(self.act)

    def listing(self, request: Request) -> Response:
        self.requests.append(request)
        if self.ops_status != 200:
            return Response(json.dumps({"errors": [{"field": None, "message": "admins only"}]}), self.ops_status)
        ordered = sorted(self.batches.values(), key=lambda b: b["expires_at"])
        within = int(request.args["expires_within"])
        ordered = [b for b in ordered if b["seconds_left"] <= within]
        start = int(request.args.get("next_token") or 0)
        page = ordered[start : start + 2]  # two per page: the tool must follow next_token
        token = str(start + 2) if start + 2 < len(ordered) else None
        body = {"batches": page, "next_token": token, "now": NOW, "now_iso": "2026-12-04T14:23:00Z"}
        return Response(json.dumps(body), 200, content_type="application/json")

    def one(self, request: Request) -> Response:
        self.requests.append(request)
        batch_id = request.path.rsplit("/", 1)[1]
        if batch_id not in self.batches:
            return Response(json.dumps({"errors": [{"field": "batch_id", "message": "no such batch"}]}), 404)
        history = [
            {
                "changed_by": "arn:aws:iam::111122223333:role/payments",
                "caller": "arn:aws:iam::111122223333:role/payments",
                "changed_at": NOW - 3600,
                "changed_at_iso": "",
                "previous_status": None,
                "status": "pause",
                "detail_type": "Scheduled Send Paused",
                "request_id": "r-1",
                "event_id": "e-1",
            }
        ]
        return Response(json.dumps({**self.batches[batch_id], "history": history}), 200)

    def act(self, request: Request) -> Response:
        self.requests.append(request)
        return Response("", 204)


@pytest.fixture
def ops(aws: None, httpserver: HTTPServer) -> FakeOps:
    fake = FakeOps(httpserver)
    outputs = {"ApiUrl": {"Value": httpserver.url_for("/").rstrip("/")}, "RestApiId": {"Value": "a1b2c3d4e5"}}
    body = {"Resources": {"Placeholder": {"Type": "AWS::SQS::Queue", "Properties": {}}}, "Outputs": outputs}
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(body))
    return fake


def _run(*arguments: str, stdin: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    session = boto3.session.Session(region_name="us-east-1")
    code = main(["--stack", STACK, *arguments], session=session, stdin=stdin or io.StringIO(), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_risk_lists_paused_batches_across_accounts_soonest_first(ops: FakeOps) -> None:
    code, out, err = _run("at-risk", "--within", "6h")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["BATCH", "ACCOUNT", "REGION", "OWNER", "TIME", "LEFT", "EXPIRES", "EXPIRY", "ACTION"]
    assert lines[1].startswith("b-soon") and "acme" in lines[1] and "47 min left" in lines[1]
    assert lines[2].startswith("b-later") and "account-id 42" in lines[2] and "3 h left" in lines[2]
    assert lines[3].startswith("b-parent") and "parent" in lines[3] and "resume" in lines[3]
    assert "scheduled-sends --stack sends-prod --region us-east-1 resume b-soon --account acme" in out
    listings = [r for r in ops.requests if r.path == "/v3/ops/batches"]
    assert [r.args.get("next_token") for r in listings] == [None, "2"]  # both pages read
    assert {r.args["status"] for r in listings} == {"pause"} and listings[0].args["expires_within"] == "21600"
    for request in ops.requests:  # signed as the operator, for execute-api in the stack's region
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
        assert "/us-east-1/execute-api/aws4_request" in request.headers["Authorization"]


def test_at_risk_within_one_hour_and_json_for_scripts(ops: FakeOps) -> None:
    code, out, _ = _run("at-risk", "--within", "1h", "--json")
    assert code == 0
    result = json.loads(out)
    assert [b["batch_id"] for b in result["batches"]] == ["b-soon"] and result["within"] == 3600


def test_at_risk_filters_by_account_in_the_on_behalf_of_form(ops: FakeOps) -> None:
    assert _run("at-risk", "--account", "parent")[0] == 0
    assert _run("at-risk", "--account", "account-id 42")[0] == 0
    firsts = [r for r in ops.requests if not r.args.get("next_token")]
    assert [r.args["account"] for r in firsts] == ["parent", "account-id 42"]
    assert "account=account-id%2042" in firsts[1].url  # %20, as SigV4 and API Gateway read it


def test_show_prints_the_batch_time_left_and_history(ops: FakeOps) -> None:
    code, out, _ = _run("show", "b-soon", "--account", "acme")
    assert code == 0
    assert "47 min left; from send_at" in out and "owner:" in out and "none -> pause" in out
    assert ops.requests[0].args["account"] == "acme"


def test_resume_with_yes_deletes_the_pause_on_behalf_of_the_account(ops: FakeOps) -> None:
    code, out, _ = _run("resume", "b-soon", "--account", "acme", "--yes")
    assert code == 0 and "resumed b-soon in acme" in out
    (action,) = [r for r in ops.requests if r.path.startswith("/v3/user/")]
    assert action.method == "DELETE" and action.headers["on-behalf-of"] == "acme"
    assert "on-behalf-of" in action.headers["Authorization"]  # the account is part of what was signed


def test_cancel_asks_on_a_terminal_and_patches_to_cancel(ops: FakeOps) -> None:
    code, _, err = _run("cancel", "b-soon", "--account", "acme", stdin=_Terminal("y\n"))
    assert code == 0
    assert "Cancel batch b-soon in acme (pause, 47 min left, owner arn:aws:iam::111122223333:role/payments)?" in err
    (action,) = [r for r in ops.requests if r.path.startswith("/v3/user/")]
    assert action.method == "PATCH" and json.loads(action.data) == {"status": "cancel"}


def test_no_terminal_and_no_yes_refuses_with_exit_2_and_changes_nothing(ops: FakeOps) -> None:
    code, _, err = _run("resume", "b-soon", "--account", "acme")
    assert code == 2 and "pass --yes" in err
    assert not [r for r in ops.requests if r.path.startswith("/v3/user/")]


def test_declining_on_a_terminal_changes_nothing(ops: FakeOps) -> None:
    code, _, err = _run("resume", "b-soon", "--account", "acme", stdin=_Terminal("n\n"))
    assert code == 1 and "nothing was changed" in err
    assert not [r for r in ops.requests if r.path.startswith("/v3/user/")]


def test_not_found_and_forbidden_exit_3_other_failures_exit_1(ops: FakeOps) -> None:
    code, _, err = _run("show", "missing", "--account", "acme")
    assert code == 3 and "no such batch" in err
    code, _, err = _run("resume", "missing", "--account", "acme", "--yes")
    assert code == 3
    ops.ops_status = 403
    code, _, err = _run("at-risk")
    assert code == 3 and "403 admins only" in err
    ops.ops_status = 502
    assert _run("at-risk")[0] == 1


def test_usage_mistakes_exit_2(ops: FakeOps) -> None:
    assert _run("at-risk", "--within", "soon")[0] == 2
    assert _run("show", "b-soon")[0] == 2  # --account is required
    assert _run("show", "b-soon", "--account", "two words")[0] == 2
    assert main(["at-risk"], stdout=io.StringIO(), stderr=io.StringIO()) == 2  # neither --stack nor --local


def test_a_missing_stack_exits_3(ops: FakeOps) -> None:
    out, err = io.StringIO(), io.StringIO()
    session = boto3.session.Session(region_name="us-east-1")
    assert main(["--stack", "nope", "at-risk"], session=session, stdout=out, stderr=err) == 3
    assert "no stack nope in us-east-1" in err.getvalue()
