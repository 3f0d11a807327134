"""Running it in production: every log group kept for LogRetentionDays, the API's JSON access log, two stacks side
by side in one account and region, gradual deployments with rollback alarms, the version the stack reports and
every alarm's runbook. The template is read after the real SAM transform where SAM adds resources."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from local import template as cfn
from tests.infrastructure.test_template import LOCAL_REFS, _of_type, _transform
from tests.infrastructure.tooling import ROOT

API_FUNCTIONS = {
    "CreateBatchIdFunction",
    "ValidateBatchIdFunction",
    "ListScheduledSendsFunction",
    "PauseOrCancelFunction",
    "GetScheduledSendFunction",
    "UpdateScheduledSendFunction",
    "ResumeScheduledSendFunction",
}
SCANNER = "ExpiryScannerFunction"
ROLLBACK_ALARMS = {"ApiServerErrorRateAlarm", "FunctionErrorsAlarm", "ScannerFailuresAlarm"}


@pytest.fixture(scope="module")
def token_mode() -> dict[str, Any]:
    """AuthMode=TOKEN adds the authorizer: the superset of what the stack can create."""
    return _transform({"AuthMode": "TOKEN"})


# -- retention and access logs ----------------------------------------------------------------------------------


def test_every_function_writes_to_a_log_group_of_the_stack_kept_for_the_retention_parameter(
    token_mode: dict[str, Any],
) -> None:
    functions = _of_type(token_mode, "AWS::Lambda::Function")
    groups = _of_type(token_mode, "AWS::Logs::LogGroup")
    assert len(functions) >= 9  # every function the template has, whoever adds one
    for function, resource in functions.items():
        # Lambda writes to the group its LoggingConfig names (without one it would create /aws/lambda/<name> itself,
        # kept for ever): the stack's own, named after the stack, so an upgrade from a stack whose functions already
        # have Lambda's groups creates new ones instead of failing on "already exists".
        assert resource["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": f"{function}LogGroup"}}, function
        group = groups[f"{function}LogGroup"]
        assert group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{function}"}
        assert group.get("Condition") == resource.get("Condition"), function
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    parameter = cfn.load_template()["Parameters"]["LogRetentionDays"]
    assert parameter["Default"] == 30 and 30 in parameter["AllowedValues"]


def _access_log() -> dict[str, Any]:
    return cfn.load_template()["Resources"]["ScheduledSendsApi"]["Properties"]


def test_the_api_writes_json_access_logs_with_who_what_and_how_long_and_never_headers_or_bodies() -> None:
    api = _access_log()
    setting = api["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    line = json.loads(setting["Format"])  # one JSON object per request
    assert {
        "request_id": "$context.requestId",
        "principal": "$context.identity.userArn",
        "authorizer_principal": "$context.authorizer.principalId",
        "route": "$context.resourcePath",
        "method": "$context.httpMethod",
        "status": "$context.status",
        "latency_ms": "$context.responseLatency",
        "integration_latency_ms": "$context.integrationLatency",
        "user_agent": "$context.identity.userAgent",
    }.items() <= line.items()
    variables = " ".join(line.values())
    assert not re.search(r"header|\$input|body|requestOverride|responseOverride", variables, re.I)
    (settings,) = api["MethodSettings"]
    assert (settings["LoggingLevel"], settings["DataTraceEnabled"]) == ("OFF", False)  # execution logs can hold bodies
    group = cfn.load_template()["Resources"]["ApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_saved_queries_read_the_access_log_who_called_what_when() -> None:
    resources = cfn.load_template()["Resources"]
    who_called = resources["WhoCalledWhatQuery"]["Properties"]
    assert who_called["LogGroupNames"] == [{"Ref": "ApiAccessLogGroup"}]
    assert all(f in who_called["QueryString"] for f in ("principal", "route", "status", "@timestamp"))
    who_changed = resources["WhoChangedBatchQuery"]["Properties"]
    assert {"Ref": "ApiAccessLogGroup"} in who_changed["LogGroupNames"]
    assert 'path like "REPLACE-WITH-THE-BATCH-ID"' in who_changed["QueryString"]


# -- two stacks side by side ------------------------------------------------------------------------------------

_PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws", "AWS::NoValue": ""}


def _render(value: Any, stack: str, template: dict[str, Any]) -> Any:
    """`value` as stack `stack` deploys it (defaults for parameters). A name CloudFormation generates for a
    resource (Ref, GetAtt) is `<stack>-<logical id>-<suffix>`, unique to the stack: rendered as `<stack>:<id>`."""

    def name(reference: str) -> str:
        logical = reference.split(".")[0]
        if reference == "AWS::StackName":
            return stack
        if reference in _PSEUDO:
            return _PSEUDO[reference]
        if logical in template["Resources"]:
            return f"<{stack}:{reference}>"
        return str(template["Parameters"][reference].get("Default", f"<parameter {reference}>"))

    if isinstance(value, list):
        return [_render(v, stack, template) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return name(value["Ref"])
    if set(value) == {"Fn::GetAtt"}:
        return name(".".join(value["Fn::GetAtt"]))
    if set(value) == {"Fn::Sub"}:
        text, variables = value["Fn::Sub"] if isinstance(value["Fn::Sub"], list) else (value["Fn::Sub"], {})
        local = {k: str(_render(v, stack, template)) for k, v in variables.items()}
        return re.sub(r"\$\{([^}!]+)\}", lambda m: local.get(m.group(1)) or name(m.group(1)), text)
    if set(value) == {"Fn::If"}:
        return _render(value["Fn::If"][1], stack, template)  # the name either way (both branches are checked below)
    return {k: _render(v, stack, template) for k, v in value.items()}


def _names(template: dict[str, Any], stack: str) -> set[str]:
    """Every physical name the stack sets (…Name properties, not the ones CloudFormation generates) and every
    custom metric it publishes under or reads (namespace + service dimension), as stack `stack` deploys them."""
    names: set[str] = set()
    for resource in template["Resources"].values():
        properties = _render(resource.get("Properties", {}), stack, template)
        for key, value in properties.items():
            if resource.get("Properties", {}).get(key) == {"Ref": "CustomDomainName"}:
                continue  # the operator's own domain, given per stack
            # (Not names inside another resource, like an index, a stage or an alias, nor AWS's deployment configs.)
            scoped = ("MetricName", "IndexName", "AttributeName", "StageName", "DeploymentConfigName")
            named = key.endswith("Name") and key not in scoped and resource["Type"] != "AWS::Lambda::Alias"
            if named and isinstance(value, str):
                names.add(f"{resource['Type']} {value}")
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            stats = [properties] + [
                m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m
            ]
            for stat in stats:
                if "Namespace" in stat:
                    dimensions = {d["Name"]: d["Value"] for d in stat["Dimensions"]}
                    names.add(f"metric {stat['Namespace']} {sorted(dimensions.items())}")
    return names


def test_two_stacks_in_one_account_and_region_collide_on_no_name_and_no_metric(token_mode: dict[str, Any]) -> None:
    staging, production = _names(token_mode, "sends-staging"), _names(token_mode, "sends-prod")
    assert len(staging) == len(production) > 20
    assert staging.isdisjoint(production), staging & production
    # What the functions publish under: the namespace with the stack's name as the service dimension.
    for stack in ("sends-staging", "sends-prod"):
        env = cfn.function_environment(cfn.load_template(), {**LOCAL_REFS, "AWS::StackName": stack})
        assert (env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"]) == ("ScheduledSends", stack)


def test_a_stacks_alarms_and_dashboard_read_only_its_own_metrics(token_mode: dict[str, Any]) -> None:
    for logical, alarm in _of_type(token_mode, "AWS::CloudWatch::Alarm").items():
        properties = _render(alarm["Properties"], "sends-prod", token_mode)
        stats = [properties] + [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
        for stat in (s for s in stats if "Namespace" in s):
            values = [d["Value"] for d in stat["Dimensions"]]  # e.g. ApiName + Stage: one names the stack
            assert any("sends-prod" in v for v in values), (logical, values)
    body = json.loads(
        _render(token_mode["Resources"]["Dashboard"]["Properties"]["DashboardBody"], "sends-prod", token_mode)
    )
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], str):
                assert row[2:4] == ["service", "sends-prod"], row
            else:  # a SEARCH: filtered to this stack's API or service dimension
                assert re.search(r'(ApiName|service)=\\?"sends-prod', row[0]["expression"]), row


def test_the_docs_subscribe_to_the_stacks_bus_by_its_output_not_a_fixed_name() -> None:
    rules = (ROOT / "docs" / "examples" / "team-rules.yaml").read_text()
    bus_names = re.findall(r"^ +EventBusName: (.+)$", rules, re.M)
    assert bus_names and set(bus_names) == {"!Ref ScheduledSendsBusName"}
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        text = page.read_text()
        assert "--event-bus-name scheduled-sends-events" not in text, page
        assert '"scheduled-sends-events"' not in text, page


# -- safe deploys ----------------------------------------------------------------------------------------------


def test_api_functions_and_the_scanner_deploy_gradually_and_roll_back_on_the_alarms(token_mode: dict[str, Any]) -> None:
    groups = _of_type(token_mode, "AWS::CodeDeploy::DeploymentGroup")
    deployed = {name.removesuffix("DeploymentGroup") for name in groups}
    assert API_FUNCTIONS | {SCANNER} <= deployed
    for name, group in groups.items():
        properties = group["Properties"]
        assert properties["DeploymentConfigName"] == {
            "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "Canary10Percent5Minutes"}]
        }
        alarms = {a["Name"]["Ref"] for a in properties["AlarmConfiguration"]["Alarms"]}
        assert alarms == ROLLBACK_ALARMS, name
        assert properties["AutoRollbackConfiguration"]["Events"] == [
            "DEPLOYMENT_FAILURE",
            "DEPLOYMENT_STOP_ON_ALARM",
            "DEPLOYMENT_STOP_ON_REQUEST",
        ]
    # The alias CodeDeploy shifts is the one API Gateway and the schedule invoke.
    for function in API_FUNCTIONS | {SCANNER}:
        alias = token_mode["Resources"][f"{function}Aliaslive"]
        assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"], function


def test_gradual_deployment_can_be_turned_off_for_development_stacks() -> None:
    development = _transform({"GradualDeployment": "false"})
    assert _of_type(development, "AWS::CodeDeploy::DeploymentGroup") == {}
    assert all("UpdatePolicy" not in a for a in _of_type(development, "AWS::Lambda::Alias").values())


# -- releases and runbooks --------------------------------------------------------------------------------------


def test_the_stack_reports_the_one_version_of_the_release() -> None:
    template = cfn.load_template()
    version = template["Mappings"]["Release"]["Service"]["Version"]
    assert version == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    newest = re.search(r"^## \[?(\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.M).group(1)
    assert newest == version
    assert f"## {version}" in (ROOT / "docs" / "operations" / "upgrades.md").read_text()
    assert template["Outputs"]["Version"]["Value"] == {"Fn::FindInMap": ["Release", "Service", "Version"]}
    assert cfn.function_environment(template, LOCAL_REFS)["SERVICE_VERSION"] == version
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]


def test_every_alarm_links_to_its_runbook_section() -> None:
    runbook = (ROOT / "docs" / "operations" / "alarms.md").read_text()
    sections = set(re.findall(r"^## (\w+)$", runbook, re.M))
    alarms = {n: r for n, r in cfn.load_template()["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == sections
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmDescription"]["Fn::Sub"].endswith(
            f"Runbook: ${{RunbookBaseUrl}}#{name.lower()}"
        )
