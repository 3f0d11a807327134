"""The template itself: transformed by the real SAM translator, linted, validated and built."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from local import template as cfn
from tests.infrastructure.tooling import ROOT, SAM, SAM_PYTHON, python313_dir, run
from tests.support import OPERATIONS, OPS_OPERATIONS

TEMPLATE = ROOT / "template.yaml"
SCANNER = "ExpiryScannerFunction"
AUTHORIZER = "TokenAuthorizerFunction"
PIPE_ROLE = "ChangeEventsPipeRole"
SECRET = {"Fn::If": ["CreateSecret", {"Ref": "SendGridApiKeySecret"}, {"Ref": "SendGridSecretArn"}]}
TABLE = {"Fn::GetAtt": ["BatchesTable", "Arn"]}
DUE_INDEX = {"Fn::Sub": "${BatchesTable.Arn}/index/due"}
ACTIVE_INDEX = {"Fn::Sub": "${BatchesTable.Arn}/index/active"}
STATUS_INDEX = {"Fn::Sub": "${BatchesTable.Arn}/index/by_status"}
IDEMPOTENCY = {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
# Least privilege: exactly these table actions per function (besides reading the secret). An admin's refusal
# without on-behalf-of says which accounts hold the batch id (the registry: Query, then BatchGetItem). The scanner and
# a refused pause bring an account's slot ledger to its rows, each move checked on its row (ConditionCheckItem).
WRONG_ACCOUNT_HINT = {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchGetItem"}
TABLE_ACCESS = {
    "CreateBatchIdFunction": ({"dynamodb:GetItem", "dynamodb:UpdateItem"}, [TABLE]),
    "ValidateBatchIdFunction": (WRONG_ACCOUNT_HINT, [TABLE]),
    "ListScheduledSendsFunction": (
        {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"},
        [TABLE, ACTIVE_INDEX],
    ),
    "PauseOrCancelFunction": (
        {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"},
        [TABLE, ACTIVE_INDEX],
    ),
    "GetScheduledSendFunction": (WRONG_ACCOUNT_HINT, [TABLE]),
    "UpdateScheduledSendFunction": ({"dynamodb:GetItem", "dynamodb:UpdateItem"}, [TABLE]),
    "ResumeScheduledSendFunction": ({"dynamodb:GetItem", "dynamodb:UpdateItem"}, [TABLE]),
    SCANNER: (
        {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"},
        [TABLE, DUE_INDEX, ACTIVE_INDEX, STATUS_INDEX],
    ),
}
# The on-call functions read the table and nothing else: no secret, no write, no bus (the widget's role included).
READ_ONLY_ACCESS = {
    "OpsListBatchesFunction": ({"dynamodb:Query"}, [STATUS_INDEX]),
    "OpsGetBatchFunction": ({"dynamodb:GetItem"}, [TABLE]),
    "AtRiskWidgetFunction": ({"dynamodb:Query"}, [STATUS_INDEX]),
}
WIDGET = "AtRiskWidgetFunction"
TOKENS_TABLE = {"Fn::GetAtt": ["TeamTokensTable", "Arn"]}
LOCAL_REFS = {
    "SendGridApiKeySecret": "arn",
    "BatchesTable": "batches",
    "EventBus": "bus",
    "IdempotencyTable": "idem",
    "AWS::StackName": "stack",
}


def _transform(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    assert SAM_PYTHON.exists(), "the SAM CLI venv is missing: run `make test`, which creates it"
    result = run(
        str(SAM_PYTHON), str(Path(__file__).with_name("sam_transform.py")), str(TEMPLATE), json.dumps(parameters or {})
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# The module's tests share the SAM transform (module scoped): one worker runs them all (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("test_template")


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return _transform()


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _function_of(integration_uri: dict[str, Any]) -> str:
    """The function whose SnapStart alias "live" an integration invokes."""
    return re.search(r"\$\{(\w+)Aliaslive\}", integration_uri["Fn::Sub"]).group(1)


@pytest.mark.parametrize(("token_mode", "scheme"), [(False, "sigv4"), (True, "TeamToken")])
def test_each_route_has_its_own_function_behind_the_auth_modes_scheme(
    transformed: dict[str, Any], token_mode: bool, scheme: str
) -> None:
    (api,) = _of_type(transformed, "AWS::ApiGateway::RestApi").values()
    body = cfn.decide(api["Properties"]["Body"], {"TokenMode": token_mode}.__getitem__)
    definitions = body["securityDefinitions"]
    assert definitions["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    if token_mode:
        authorizer = definitions["TeamToken"]["x-amazon-apigateway-authorizer"]
        assert authorizer["type"] == "request"
        assert authorizer["identitySource"] == "method.request.header.Authorization"
        assert "${TokenAuthorizerFunctionAliaslive}" in authorizer["authorizerUri"]["Fn::Sub"]
        assert authorizer["authorizerResultTtlInSeconds"] == {"Ref": "TokenCacheSeconds"}
    else:
        assert set(definitions) == {"sigv4"}
    routes = {
        (method.upper(), path): operation
        for path, methods in body["paths"].items()
        for method, operation in methods.items()
    }
    assert set(routes) == set(OPERATIONS.values()) | set(OPS_OPERATIONS.values())
    functions = set()
    for route, operation in routes.items():
        assert operation["security"] == [{scheme: []}], route  # no route is left open in either mode
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert "credentials" not in integration  # the caller's credentials never invoke Lambda
        functions.add(_function_of(integration["uri"]))
    assert len(functions) == 9
    assert functions == set(_of_type(transformed, "AWS::Lambda::Function")) - {SCANNER, AUTHORIZER, WIDGET}


def test_the_security_table_lists_exactly_the_routes_of_the_function_events() -> None:
    template = cfn.load_template()
    body = template["Resources"]["ScheduledSendsApi"]["Properties"]["DefinitionBody"]
    secured = {(method.upper(), path) for path, methods in body["paths"].items() for method in methods}
    assert secured == {(route.method, route.resource) for route in cfn.routes(template)}


def test_the_authorizer_and_token_table_exist_only_in_token_mode(transformed: dict[str, Any]) -> None:
    template = cfn.load_template()
    assert template["Parameters"]["AuthMode"]["Default"] == "IAM"
    assert template["Parameters"]["AuthMode"]["AllowedValues"] == ["IAM", "TOKEN"]
    token_only = {name for name, r in transformed["Resources"].items() if r.get("Condition") == "TokenMode"}
    assert {
        "TeamTokensTable",
        "TokenAuthorizerFunction",
        "TokenAuthorizerFunctionRole",
        "TokenAuthorizerFunctionAliaslive",
        "TokenAuthorizerInvokePermission",
        "TokenAuthorizerErrorsAlarm",
    } <= token_only
    permission = transformed["Resources"]["TokenAuthorizerInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "TokenAuthorizerFunctionAliaslive"}
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${ScheduledSendsApi}/authorizers/*")
    table = template["Resources"]["TeamTokensTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert cfn.decide(table["Properties"]["SSESpecification"], lambda c: False) == {"SSEEnabled": True}
    assert template["Outputs"]["TeamTokensTableName"]["Condition"] == "TokenMode"


def test_the_stage_is_v3(transformed: dict[str, Any]) -> None:
    (stage,) = _of_type(transformed, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == "v3"


def test_every_handler_folder_is_a_function_of_the_template() -> None:
    template = cfn.load_template()
    code_dirs = {route.code_dir.name for route in cfn.routes(template)}
    assert code_dirs == set(OPERATIONS) | set(OPS_OPERATIONS)
    scheduled = {f.code_dir.name for f in cfn.scheduled_functions(template)}
    assert scheduled == {"expiry_scanner"}
    authorizer = Path(template["Resources"][AUTHORIZER]["Properties"]["CodeUri"]).name
    widget = Path(template["Resources"][WIDGET]["Properties"]["CodeUri"]).name
    folders = {p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()}
    assert folders == code_dirs | scheduled | {authorizer, widget}


def test_every_function_has_the_layer_runtime_and_a_timeout_below_api_gateways(transformed: dict[str, Any]) -> None:
    (layer_name,) = _of_type(transformed, "AWS::Lambda::LayerVersion")
    for name, function in _of_type(transformed, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        assert properties["Layers"] == [{"Ref": layer_name}], name
        assert properties["Runtime"] == "python3.13"
        assert properties["Timeout"] < 29 or name == SCANNER
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        read_timeouts = float(properties["Environment"]["Variables"]["SENDGRID_CONNECT_TIMEOUT_SECONDS"]) + float(
            properties["Environment"]["Variables"]["SENDGRID_READ_TIMEOUT_SECONDS"]
        )
        assert read_timeouts < properties["Timeout"]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    statements = [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    for statement in statements:
        if isinstance(statement["Action"], str):
            statement["Action"] = [statement["Action"]]
    return statements


def _about(statements: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    return [s for s in statements if any(a.startswith(service + ":") for a in s["Action"])]


def test_each_function_gets_only_the_secret_table_actions_and_bus_it_uses(transformed: dict[str, Any]) -> None:
    roles = _of_type(transformed, "AWS::IAM::Role")
    # (CodeDeploy's own role: GradualDeployment's alias shifts, with AWS's managed policy for Lambda deployments.)
    assert set(roles) == {f"{name}Role" for name in {**TABLE_ACCESS, **READ_ONLY_ACCESS}} | {
        f"{AUTHORIZER}Role",
        PIPE_ROLE,
        "CodeDeployServiceRole",
    }
    # The authorizer reads token records and nothing else: not the SendGrid key, not the batches.
    assert _statements(roles[f"{AUTHORIZER}Role"]) == [
        {"Action": ["dynamodb:GetItem"], "Effect": "Allow", "Resource": [TOKENS_TABLE]}
    ]
    for function, (actions, resources) in TABLE_ACCESS.items():
        statements = _statements(roles[f"{function}Role"])
        assert {
            "Action": ["secretsmanager:GetSecretValue"],
            "Effect": "Allow",
            "Resource": {"Fn::Sub": ["${secretArn}", {"secretArn": SECRET}]},
        } in statements
        dynamodb = _about(statements, "dynamodb")
        table = [s for s in dynamodb if s["Resource"] != [IDEMPOTENCY]]
        assert len(table) == 1, function
        assert set(table[0]["Action"]) == actions, function
        assert table[0]["Resource"] == resources, function
        idempotency = [s for s in dynamodb if s["Resource"] == [IDEMPOTENCY]]
        if function == "CreateBatchIdFunction":  # only create is idempotent (Idempotency-Key)
            assert [set(s["Action"]) for s in idempotency] == [
                {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
            ]
        else:
            assert idempotency == []
        events, queue = _about(statements, "events"), _about(statements, "sqs")
        assert len(statements) == 1 + len(dynamodb) + len(events) + len(queue)
        if function == SCANNER:
            assert [e["Action"] for e in events] == [["events:PutEvents"]]
            assert "event-bus/${eventBusName}" in json.dumps(events[0]["Resource"])
            assert queue == [
                {
                    "Action": ["sqs:SendMessage"],
                    "Effect": "Allow",
                    "Resource": {"Fn::GetAtt": ["ScannerDeadLetterQueue", "Arn"]},
                }
            ]
        else:
            assert events == queue == []
        assert '"*"' not in json.dumps(statements), function  # no wildcard resource or action


@pytest.mark.parametrize("function", sorted(READ_ONLY_ACCESS))
def test_the_on_call_functions_and_the_widget_may_only_read_the_table(
    transformed: dict[str, Any], function: str
) -> None:
    role = _of_type(transformed, "AWS::IAM::Role")[f"{function}Role"]
    actions, resources = READ_ONLY_ACCESS[function]
    assert _statements(role) == [{"Action": sorted(actions), "Effect": "Allow", "Resource": resources}]
    # Besides its logs and traces (the managed policies every function has), nothing: no secret, bus or write.
    assert {json.dumps(arn).rsplit("/", 1)[-1].strip('"}') for arn in role["Properties"]["ManagedPolicyArns"]} == {
        "AWSLambdaBasicExecutionRole",
        "AWSXrayWriteOnlyAccess",
    }


def test_the_dashboard_shows_the_at_risk_widget_and_the_alarm_links_the_runbook_command_and_dashboard() -> None:
    template = cfn.load_template()
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    (custom,) = [w for w in json.loads(body)["widgets"] if w["type"] == "custom"]
    assert custom["properties"]["endpoint"] == "${AtRiskWidgetFunctionAliaslive}"  # the alias: canary, SnapStart
    alarm = template["Resources"]["PausedBatchExpiringUnprotectedAlarm"]["Properties"]
    assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "PausedUnprotectedExpiringWithin1h",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    description = alarm["AlarmDescription"]["Fn::Sub"]
    assert "scheduled-sends at-risk --stack ${AWS::StackName} --within 1h" in description
    assert description.endswith("Runbook: ${RunbookBaseUrl}#pausedbatchexpiringunprotectedalarm")
    assert "#dashboards:name=${AWS::StackName}-scheduled-sends" in description
    assert template["Resources"]["Dashboard"]["Properties"]["DashboardName"] == {
        "Fn::Sub": "${AWS::StackName}-scheduled-sends"
    }
    assert len(description) < 1024  # CloudWatch's limit (the stack name adds a little, twice)
    assert "Condition" not in template["Resources"]["PausedBatchExpiringUnprotectedAlarm"]  # in every combination


def test_the_change_events_pipe_may_read_only_the_tables_stream_and_put_only_on_the_bus(
    transformed: dict[str, Any],
) -> None:
    role = transformed["Resources"][PIPE_ROLE]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "pipes.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]
    assert "ManagedPolicyArns" not in role and "PermissionsBoundary" not in role
    statements = sorted(_statements(transformed["Resources"][PIPE_ROLE]), key=lambda s: s["Action"][0])
    assert statements == [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ],
            "Resource": {"Fn::GetAtt": ["BatchesTable", "StreamArn"]},
        },
        {"Effect": "Allow", "Action": ["events:PutEvents"], "Resource": {"Fn::GetAtt": ["EventBus", "Arn"]}},
    ]
    pipe = transformed["Resources"]["ChangeEventsPipe"]["Properties"]
    assert pipe["RoleArn"] == {"Fn::GetAtt": [PIPE_ROLE, "Arn"]}
    assert pipe["Source"] == {"Fn::GetAtt": ["BatchesTable", "StreamArn"]}
    assert pipe["Target"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert "Enrichment" not in pipe  # the input template shapes the event; no function runs in between
    # No function may put what looks like a change on the bus itself: only the scanner puts events at all.
    putting = {
        name.removesuffix("Role")
        for name, r in _of_type(transformed, "AWS::IAM::Role").items()
        if "events:PutEvents" in json.dumps(r["Properties"].get("Policies", []))
    }
    assert putting == {SCANNER, "ChangeEventsPipe"}


def test_the_pipe_passes_only_the_writes_that_record_a_change_and_reads_only_what_they_write() -> None:
    """The filter keys on the one-shot marker the batches table writes with a change; every path of the input
    template and of the dynamic target parameters is an attribute that write sets (as a string)."""
    from scheduled_sends.adapters.batches_table import CHANGE_ATTRIBUTES, CHANGE_EVENT

    pipe = cfn.load_template()["Resources"]["ChangeEventsPipe"]["Properties"]
    (only,) = pipe["SourceParameters"]["FilterCriteria"]["Filters"]
    assert json.loads(only["Pattern"]) == {
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"NewImage": {CHANGE_EVENT: {"S": [{"exists": True}]}}},
    }
    target = pipe["TargetParameters"]
    paths = re.findall(r"<\$\.dynamodb\.NewImage\.(\w+)\.(\w+)>", target["InputTemplate"])
    bus = target["EventBridgeEventBusParameters"]
    paths += [tuple(p.removeprefix("$.dynamodb.NewImage.").split(".")) for p in (bus["DetailType"], bus["Time"])]
    assert {name for name, kind in paths} <= {*CHANGE_ATTRIBUTES, "account", "batch_id"}
    assert {kind for _, kind in paths} == {"S"}
    assert "changed_at" not in {name for name, _ in paths}  # a number: the event says change_time instead
    assert bus["Source"] == "scheduled-sends"
    assert pipe["SourceParameters"]["DynamoDBStreamParameters"]["StartingPosition"] == "TRIM_HORIZON"


def test_the_bus_is_archived_for_the_parameters_retention_and_the_audit_query_reads_the_change_functions() -> None:
    resources = cfn.load_template()["Resources"]
    archive = resources["EventArchive"]["Properties"]
    assert archive["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert archive["RetentionDays"] == {"Ref": "EventArchiveRetentionDays"}
    assert cfn.load_template()["Parameters"]["EventArchiveRetentionDays"]["Default"] == 365
    query = resources["WhoChangedBatchQuery"]["Properties"]
    assert query["LogGroupNames"] == [
        {"Ref": f"{function}LogGroup"}
        for function in ("PauseOrCancelFunction", "UpdateScheduledSendFunction", "ResumeScheduledSendFunction")
    ] + [{"Ref": "ApiAccessLogGroup"}]  # and every request that named the batch (the access log)
    assert 'message = "scheduled send changed"' in query["QueryString"]
    assert "changed_by" in query["QueryString"] and "batch_id =" in query["QueryString"]
    outputs = cfn.load_template()["Outputs"]
    assert outputs["EventArchiveArn"]["Value"] == {"Fn::GetAtt": ["EventArchive", "Arn"]}
    assert outputs["EventBusArn"]["Value"] == {"Fn::GetAtt": ["EventBus", "Arn"]}


def test_the_table_is_on_demand_encrypted_recoverable_with_ttl_and_sparse_indexes() -> None:
    table = cfn.load_template()["Resources"]["BatchesTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert cfn.decide(table["SSESpecification"], lambda c: False) == {"SSEEnabled": True}  # AWS-owned key
    assert cfn.decide(table["SSESpecification"], lambda c: c == "HasKmsKey") == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "KmsKeyArn"},
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}  # the change events' source
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in table["GlobalSecondaryIndexes"]}
    assert indexes == {
        "due": ["due_shard", "due_at"],
        "active": ["active_account", "batch_id"],
        "by_status": ["status_key", "expiry_order"],
    }


def test_the_scanner_runs_on_a_schedule_with_retries_and_a_dead_letter_queue(transformed: dict[str, Any]) -> None:
    scanner = cfn.load_template()["Resources"][SCANNER]["Properties"]
    assert scanner["Events"]["Schedule"]["Properties"]["Schedule"] == {"Ref": "ScanRate"}
    assert cfn.load_template()["Parameters"]["ScanRate"]["Default"] == "rate(5 minutes)"
    queue = {"Fn::GetAtt": ["ScannerDeadLetterQueue", "Arn"]}
    # A run that failed its retries, and a tick the schedule could not deliver, both land in the queue.
    assert scanner["EventInvokeConfig"]["MaximumRetryAttempts"] == 2
    assert scanner["EventInvokeConfig"]["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": queue}
    assert scanner["Events"]["Schedule"]["Properties"]["DeadLetterConfig"] == {"Arn": queue}
    rules = _of_type(transformed, "AWS::Events::Rule")
    assert len(rules) == 1
    (rule,) = rules.values()
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Ref": f"{SCANNER}Aliaslive"}  # the SnapStart version
    assert rule["Properties"]["Targets"][0]["DeadLetterConfig"] == {"Arn": queue}
    # The queue lets exactly that rule send to it (the name the queue policy assumes SAM gives the rule).
    policy = transformed["Resources"]["ScannerDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in policy] == [
        {"Fn::GetAtt": [next(iter(rules)), "Arn"]}
    ]
    outputs = cfn.load_template()["Outputs"]
    assert outputs["EventBusName"]["Value"] == {"Ref": "EventBus"}


def test_lambda_permissions_are_scoped_to_one_method_and_path_of_this_api(transformed: dict[str, Any]) -> None:
    permissions = {
        name: p
        for name, p in _of_type(transformed, "AWS::Lambda::Permission").items()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com" and name != "TokenAuthorizerInvokePermission"
    }
    assert len(permissions) == 9
    for permission in permissions.values():
        properties = permission["Properties"]
        assert properties["Principal"] == "apigateway.amazonaws.com"
        source = properties["SourceArn"]["Fn::Sub"]
        template, variables = source
        assert "${__ApiId__}" in template and variables["__ApiId__"] == {"Ref": "ScheduledSendsApi"}
        assert variables["__Stage__"] == "*" or variables["__Stage__"] == "v3"
        assert "*" not in template.rsplit("/", 3)[-3:][0]  # the method is named, not a wildcard


def test_an_existing_secret_arn_creates_no_secret() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sendgrid-AbCdEf"
    template = cfn.load_template()
    env = cfn.function_environment(template, {**LOCAL_REFS, "SendGridSecretArn": arn})
    assert env["SENDGRID_SECRET_ARN"] == arn
    assert template["Resources"]["SendGridApiKeySecret"]["Condition"] == "CreateSecret"


@pytest.mark.parametrize("region", ["global", "eu"])
def test_every_function_knows_both_hosts_and_the_region_parameter_names_the_parents(region: str) -> None:
    template = cfn.load_template()
    env = cfn.function_environment(template, {**LOCAL_REFS, "SendGridRegion": region})
    assert env["SENDGRID_REGION"] == region
    assert env["SENDGRID_API_BASE_URL"] == "https://api.sendgrid.com"
    assert env["SENDGRID_EU_API_BASE_URL"] == "https://api.eu.sendgrid.com"
    assert (env["EU_SUBUSERS"], env["GLOBAL_SUBUSERS"], env["SUBUSER_REGION_REFRESH_SECONDS"]) == ("", "", "3600")
    pinned = cfn.function_environment(template, {**LOCAL_REFS, "EuSubusers": "eurocorp,account-id 7"})
    assert pinned["EU_SUBUSERS"] == "eurocorp,account-id 7"


def test_slots_per_team_reaches_every_function_with_a_default_that_leaves_room_for_others() -> None:
    template = cfn.load_template()
    parameter = template["Parameters"]["SlotsPerTeam"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (
        "Number",
        8,
        1,
        9,  # non-admins hold at most 9 of SendGrid's 10 together, so more would mean nothing
    )
    assert cfn.function_environment(template, LOCAL_REFS)["SLOTS_PER_TEAM"] == "8"
    assert cfn.function_environment(template, {**LOCAL_REFS, "SlotsPerTeam": "5"})["SLOTS_PER_TEAM"] == "5"


def test_api_gateways_own_errors_have_sendgrids_shape() -> None:
    responses = cfn.load_template()["Resources"]["ScheduledSendsApi"]["Properties"]["GatewayResponses"]
    for response in responses.values():
        rendered = response["ResponseTemplates"]["application/json"].replace(
            "$context.error.messageString", '"Missing Authentication Token"'
        )
        assert json.loads(rendered) == {"errors": [{"field": None, "message": "Missing Authentication Token"}]}


@pytest.mark.slow
def test_cfn_lint_passes() -> None:
    result = run(str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_validate_lint_passes() -> None:
    result = run(str(SAM), "validate", "--lint", "--template-file", str(TEMPLATE), "--region", "us-east-1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


@pytest.mark.slow
def test_sam_build_succeeds_and_the_layer_holds_the_package(tmp_path: Path) -> None:
    assert python313_dir(), "sam build needs python3.13 (the Lambda runtime) on PATH; see the README"
    build_dir = tmp_path / "build"
    result = run(
        str(SAM),
        "build",
        "--template-file",
        str(TEMPLATE),
        "--build-dir",
        str(build_dir),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    layer = build_dir / "SharedLayer" / "python"
    for package in ("scheduled_sends", "urllib3", "aws_lambda_powertools", "aws_xray_sdk", "boto3"):
        assert (layer / package / "__init__.py").exists(), package
        # Bytecode beside every module (layers/shared/Makefile): Lambda cannot write it into a layer, so
        # without it every cold start compiles every module it imports. Hash-based and never checked.
        compiled = layer / package / "__pycache__" / "__init__.cpython-313.pyc"
        assert compiled.read_bytes()[4:8] == (1).to_bytes(4, "little"), package
    # botocore with only the models of the services the code calls (layers/shared/aws-services.txt), and a
    # client of each can be made from the layer as built.
    data = layer / "botocore" / "data"
    services = sorted(entry.name for entry in data.iterdir() if entry.is_dir())
    assert services == ["dynamodb", "events", "secretsmanager", "xray"]
    assert (data / "endpoints.json").exists() and (data / "partitions.json").exists()
    clients = (
        "import sys; sys.path.insert(0, sys.argv[1]); import botocore, botocore.session; "
        "assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__; "
        "session = botocore.session.get_session(); "
        "[session.create_client(s, region_name='eu-west-1', aws_access_key_id='a', aws_secret_access_key='b') "
        "for s in sys.argv[2:]]"
    )
    made = run(str(Path(python313_dir()) / "python3.13"), "-I", "-c", clients, str(layer), *services, cwd=layer)
    assert made.returncode == 0, made.stderr
    built = {path.parent.name: path.read_text() for path in build_dir.glob("*Function/app.py")}
    assert len(built) == 12
    assert "scheduled_sends.entry.scheduled import scanner_handler" in built[SCANNER]
    assert "scheduled_sends.entry.authorizer import lambda_handler" in built[AUTHORIZER]
    for route in cfn.routes(cfn.load_template()):
        assert f"api_handler({route.code_dir.name})" in built[route.function]


def test_alarms_cover_the_operators_problems_and_notify_the_optional_topic() -> None:
    template = cfn.load_template()
    alarms = {n: r["Properties"] for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {
        "ApiServerErrorRateAlarm",
        "FunctionErrorsAlarm",
        "FunctionThrottlesAlarm",
        "UpstreamErrorsAlarm",
        "SendGridKeyRejectedAlarm",
        "ScannerFailuresAlarm",
        "ScannerDeadLetterAlarm",
        "TokenAuthorizerErrorsAlarm",
        "ChangeEventsPipeFailedAlarm",
        "PausedBatchExpiringUnprotectedAlarm",
    }
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }
    functions = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    for name in ("FunctionErrorsAlarm", "FunctionThrottlesAlarm"):
        watched = {
            m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
            for m in alarms[name]["Metrics"]
            if "MetricStat" in m
        }
        # Every function, the scanner included; the authorizer fails on purpose for each refused token, so its
        # own alarm counts only the failures to decide (TeamTokenAuthorizerFailed).
        assert watched == functions - {AUTHORIZER}, name
    assert alarms["TokenAuthorizerErrorsAlarm"]["MetricName"] == "TeamTokenAuthorizerFailed"
    # The metric names the service emits (errors.py class names, scanner summary) are the ones alarmed on.
    assert alarms["SendGridKeyRejectedAlarm"]["MetricName"] == "UpstreamKeyRejected"
    assert alarms["ScannerFailuresAlarm"]["MetricName"] == "ScannerErrors"


def test_stage_throttling_and_request_models_are_set(transformed: dict[str, Any]) -> None:
    (stage,) = _of_type(transformed, "AWS::ApiGateway::Stage").values()
    (setting,) = stage["Properties"]["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    (api,) = _of_type(transformed, "AWS::ApiGateway::RestApi").values()
    paths = api["Properties"]["Body"]["paths"]
    for path, method in (("/user/scheduled_sends", "post"), ("/user/scheduled_sends/{batch_id}", "patch")):
        operation = paths[path][method]
        assert operation["x-amazon-apigateway-request-validator"] == "body-only"
        body = next(p for p in operation["parameters"] if p["in"] == "body")
        assert body["required"] is True


def test_scanner_runs_never_overlap_and_stop_before_their_timeout() -> None:
    scanner = cfn.load_template()["Resources"][SCANNER]["Properties"]
    assert scanner["ReservedConcurrentExecutions"] == 1  # one run at a time
    variables = scanner["Environment"]["Variables"]
    assert int(variables["SCAN_STOP_BEFORE_SECONDS"]) < scanner["Timeout"]
    assert int(variables["SCAN_LEASE_SECONDS"]) > scanner["Timeout"]  # only a dead run loses its lease


def test_with_a_customer_key_the_read_only_functions_may_only_decrypt() -> None:
    resources = cfn.load_template()["Resources"]
    read, use = resources["KmsKeyReadPolicy"]["Properties"], resources["KmsKeyUsePolicy"]["Properties"]
    (read_statement,) = read["PolicyDocument"]["Statement"]
    assert sorted(read_statement["Action"]) == ["kms:Decrypt", "kms:DescribeKey"]
    read_only_roles = {f"{function}Role" for function in READ_ONLY_ACCESS}
    assert {role["Ref"] for role in read["Roles"]} == read_only_roles
    assert not any(role_name in json.dumps(use["Roles"]) for role_name in read_only_roles)  # no GenerateDataKey


def test_the_dashboard_widget_calls_the_function_through_its_alias(transformed: dict[str, Any]) -> None:
    assert "AtRiskWidgetFunctionAliaslive" in _of_type(transformed, "AWS::Lambda::Alias")
