"""`scheduled-sends tokens --stack <name>` against a deployed stack: the stack's outputs from CloudFormation,
the token table in DynamoDB (moto for both), and the authorizer cache flushed on revoke."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from local.template import decide, load_template
from scheduled_sends.adapters.token_table import TokenStore
from scheduled_sends.domain import tokens
from scheduled_sends_cli.__main__ import main

STACK = "scheduled-sends"


def _deploy_stack(token_mode: bool) -> None:
    """A CloudFormation stack in moto with the template's token table and the outputs the command reads."""
    resources = {}
    outputs = {
        "ApiUrl": {"Value": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"},
        "RestApiId": {"Value": "a1b2c3d4e5"},
        "AuthMode": {"Value": "TOKEN" if token_mode else "IAM"},
    }
    if token_mode:
        table = load_template()["Resources"]["TeamTokensTable"]
        properties = decide(table["Properties"], lambda condition: False)  # no KmsKeyArn: AWS-owned key
        resources["TeamTokensTable"] = {"Type": table["Type"], "Properties": properties}
        outputs["TeamTokensTableName"] = {"Value": {"Ref": "TeamTokensTable"}}
    else:
        resources["Placeholder"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    body = json.dumps({"Resources": resources, "Outputs": outputs})
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=body)


@pytest.fixture
def session(aws: None) -> tuple[boto3.session.Session, list[dict]]:
    """A session whose apigateway FlushStageAuthorizersCache calls are recorded (moto has no such call)."""
    flushed: list[dict] = []
    session = boto3.session.Session(region_name="us-east-1")

    def record(params: dict, **_: object) -> tuple[AWSResponse, dict]:
        flushed.append({"method": params["method"], "path": params["url_path"]})  # the request botocore built
        return AWSResponse(params["url_path"], 202, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 202}}

    session.events.register("before-call.apigateway.FlushStageAuthorizersCache", record)
    return session, flushed


def test_issue_list_and_revoke_against_a_deployed_stack(session, capsys: pytest.CaptureFixture[str]) -> None:
    boto_session, flushed = session
    _deploy_stack(token_mode=True)

    issuing = ["--stack", STACK, "--json", "tokens", "issue", "--team", "payments", "--subuser", "acme"]
    assert main([*issuing, "--description", "payments' batch jobs"], boto_session) == 0
    issued = json.loads(capsys.readouterr().out)
    assert issued["principal"] == "team:payments" and issued["subusers"] == ["acme"]
    table = boto3.client("cloudformation").describe_stack_resource(
        StackName=STACK, LogicalResourceId="TeamTokensTable"
    )["StackResourceDetail"]["PhysicalResourceId"]
    stored = TokenStore(boto3.resource("dynamodb").Table(table)).get(issued["token_id"])
    _, secret = tokens.parse(issued["token"])
    assert stored is not None and tokens.matches(stored, secret)

    assert main(["--stack", STACK, "tokens", "list"], boto_session) == 0
    listing = capsys.readouterr().out
    assert issued["token_id"] in listing and "payments" in listing and secret not in listing
    assert "DESCRIPTION" in listing.splitlines()[0] and "payments' batch jobs" in listing

    assert main(["--stack", STACK, "tokens", "revoke", issued["token_id"]], boto_session) == 0
    assert "revoked" in capsys.readouterr().out
    # API Gateway's cached answers for the stage are dropped: the token is refused from the next request on.
    assert flushed == [{"method": "DELETE", "path": "/restapis/a1b2c3d4e5/stages/v3/cache/authorizers"}]
    assert TokenStore(boto3.resource("dynamodb").Table(table)).get(issued["token_id"]).revoked


def test_a_stack_in_iam_mode_or_missing_is_explained(session, capsys: pytest.CaptureFixture[str]) -> None:
    boto_session, _ = session
    assert main(["--stack", "no-such-stack", "tokens", "list"], boto_session) == 3
    assert "no stack no-such-stack in us-east-1" in capsys.readouterr().err
    _deploy_stack(token_mode=False)
    assert main(["--stack", STACK, "tokens", "issue", "--team", "payments"], boto_session) == 2
    assert "AuthMode=TOKEN" in capsys.readouterr().err
