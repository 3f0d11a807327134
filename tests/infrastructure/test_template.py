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
from tests.support import OPERATIONS

TEMPLATE = ROOT / "template.yaml"


def _transform(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    assert SAM_PYTHON.exists(), "the SAM CLI venv is missing: run `make test`, which creates it"
    result = run(
        str(SAM_PYTHON), str(Path(__file__).with_name("sam_transform.py")), str(TEMPLATE), json.dumps(parameters or {})
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return _transform()


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _function_of(integration_uri: dict[str, Any]) -> str:
    return re.search(r"\$\{(\w+)\.Arn\}", integration_uri["Fn::Sub"]).group(1)


def test_each_of_the_seven_routes_has_its_own_function_behind_aws_iam(transformed: dict[str, Any]) -> None:
    (api,) = _of_type(transformed, "AWS::ApiGateway::RestApi").values()
    body = api["Properties"]["Body"]
    assert body["securityDefinitions"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    routes = {
        (method.upper(), path): operation
        for path, methods in body["paths"].items()
        for method, operation in methods.items()
    }
    assert set(routes) == set(OPERATIONS.values())
    functions = set()
    for route, operation in routes.items():
        assert operation["security"] == [{"AWS_IAM": []}], route
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert "credentials" not in integration  # the caller's credentials never invoke Lambda
        functions.add(_function_of(integration["uri"]))
    assert len(functions) == 7
    assert functions == set(_of_type(transformed, "AWS::Lambda::Function"))


def test_the_stage_is_v3(transformed: dict[str, Any]) -> None:
    (stage,) = _of_type(transformed, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == "v3"


def test_every_handler_folder_is_a_function_of_the_template() -> None:
    template = cfn.load_template()
    code_dirs = {route.code_dir.name for route in cfn.routes(template)}
    assert code_dirs == {p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()} == set(OPERATIONS)


def test_every_function_has_the_layer_runtime_and_a_timeout_below_api_gateways(transformed: dict[str, Any]) -> None:
    (layer_name,) = _of_type(transformed, "AWS::Lambda::LayerVersion")
    for name, function in _of_type(transformed, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        assert properties["Layers"] == [{"Ref": layer_name}], name
        assert properties["Runtime"] == "python3.13"
        assert properties["Timeout"] < 29
        assert properties["TracingConfig"] == {"Mode": "Active"}
        read_timeouts = float(properties["Environment"]["Variables"]["SENDGRID_CONNECT_TIMEOUT_SECONDS"]) + float(
            properties["Environment"]["Variables"]["SENDGRID_READ_TIMEOUT_SECONDS"]
        )
        assert read_timeouts < properties["Timeout"]


def test_each_function_may_read_only_the_sendgrid_secret(transformed: dict[str, Any]) -> None:
    secret = {"Fn::If": ["CreateSecret", {"Ref": "SendGridApiKeySecret"}, {"Ref": "SendGridSecretArn"}]}
    roles = _of_type(transformed, "AWS::IAM::Role")
    assert len(roles) == 7
    for name, role in roles.items():
        statements = [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]
        assert statements == [
            {
                "Action": ["secretsmanager:GetSecretValue"],
                "Effect": "Allow",
                "Resource": {"Fn::Sub": ["${secretArn}", {"secretArn": secret}]},
            }
        ], name
        assert set(role["Properties"]["ManagedPolicyArns"]) == {
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        }


def test_lambda_permissions_are_scoped_to_one_method_and_path_of_this_api(transformed: dict[str, Any]) -> None:
    permissions = _of_type(transformed, "AWS::Lambda::Permission")
    assert len(permissions) == 7
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
    assert cfn.resolve({"Ref": "SendGridApiKeySecret"}, template, {"SendGridApiKeySecret": "created"}) == "created"
    env = cfn.function_environment(template, {"SendGridSecretArn": arn, "SendGridApiKeySecret": "created"})
    assert env["SENDGRID_SECRET_ARN"] == arn
    assert template["Resources"]["SendGridApiKeySecret"]["Condition"] == "CreateSecret"


@pytest.mark.parametrize(
    ("region", "host"), [("global", "https://api.sendgrid.com"), ("eu", "https://api.eu.sendgrid.com")]
)
def test_region_parameter_selects_the_sendgrid_host(region: str, host: str) -> None:
    template = cfn.load_template()
    env = cfn.function_environment(template, {"SendGridRegion": region, "SendGridApiKeySecret": "arn"})
    assert env["SENDGRID_API_BASE_URL"] == host


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
    for package in ("scheduled_sends", "requests", "aws_lambda_powertools", "aws_xray_sdk", "boto3"):
        assert (layer / package / "__init__.py").exists(), package
    built = {path.parent.name: path.read_text() for path in build_dir.glob("*Function/app.py")}
    assert len(built) == 7
    for route in cfn.routes(cfn.load_template()):
        assert f"api_handler({route.code_dir.name})" in built[route.function]
