"""Every way an operator can fill the parameters: cfn-lint and `sam validate --lint` pass, and the optional
parts (team tokens, custom domain, its DNS record) exist exactly when their parameters ask for them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from local import template as cfn
from tests.infrastructure.tooling import ROOT, SAM, run

TEMPLATE = ROOT / "template.yaml"
DOMAIN = {
    "CustomDomainName": "scheduled-sends.example.com",
    "CustomDomainCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-1111-2222-3333-444455556666",
}
ZONE = {"CustomDomainHostedZoneId": "Z0123456789ABCDEFGHIJ"}
SECRET = {"SendGridSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:sendgrid-AbCdEf"}
TOPIC = {"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:oncall"}
# The defaults are linted by test_template.py; these cover every optional part on and off, in both modes.
COMBINATIONS = {
    "token": {"AuthMode": "TOKEN"},
    "iam-domain-existing-secret": {**DOMAIN, **SECRET},
    "token-domain-zone-topic-eu-nocache": {
        "AuthMode": "TOKEN",
        **DOMAIN,
        **ZONE,
        **TOPIC,
        "SendGridRegion": "eu",
        "TokenCacheSeconds": "0",
    },
    "iam-domain-zone-claim-pins": {
        **DOMAIN,
        **ZONE,
        "UnknownBatchPolicy": "claim",
        "EuSubusers": "eurocorp,account-id 7",
        "GlobalSubusers": "*",
        "SubuserRegionRefreshSeconds": "600",
    },
    "token-existing-secret-topic": {"AuthMode": "TOKEN", **SECRET, **TOPIC, "EventArchiveRetentionDays": "0"},
}
# The change events (stream -> pipe -> bus), the archive and the audit query exist whatever the parameters.
ALWAYS = {
    "ChangeEventsPipe",
    "ChangeEventsPipeRole",
    "ChangeEventsPipeFailedAlarm",
    "EventArchive",
    "WhoChangedBatchQuery",
}
OPTIONAL = {
    "TOKEN": {"TeamTokensTable", "TokenAuthorizerFunction", "TokenAuthorizerInvokePermission"},
    "DOMAIN": {"CustomDomain", "CustomDomainMapping"},
    "ZONE": {"CustomDomainRecord"},
}


def _with_defaults(parameters: dict[str, str]) -> str:
    """template.yaml with these values as the parameters' defaults (what sam validate and cfn-lint check)."""
    text = TEMPLATE.read_text()
    for name, value in parameters.items():
        declared = re.search(rf"\n  {name}:\n(?:    .*\n)*?    Default: .*\n", text)
        assert declared, name
        block = re.sub(r"    Default: .*\n", f'    Default: "{value}"\n', declared.group(0))
        text = text.replace(declared.group(0), block)
    return text


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_cfn_lint_and_sam_validate_pass(name: str, tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(_with_defaults(COMBINATIONS[name]))
    assert cfn.load_template(path)["Parameters"]["AuthMode"]["Default"] == COMBINATIONS[name].get("AuthMode", "IAM")
    lint = run(str(Path(sys.executable).with_name("cfn-lint")), str(path))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    validate = run(str(SAM), "validate", "--lint", "--template-file", str(path), "--region", "us-east-1")
    assert validate.returncode == 0, validate.stdout + validate.stderr


@pytest.mark.parametrize("name", ["defaults", *sorted(COMBINATIONS)])
def test_optional_parts_exist_exactly_when_asked_for(name: str) -> None:
    parameters = COMBINATIONS.get(name, {})
    template = cfn.load_template()
    created = {resource for resource in template["Resources"] if cfn.exists(template, resource, parameters)}
    wanted = {
        "TOKEN": parameters.get("AuthMode") == "TOKEN",
        "DOMAIN": "CustomDomainName" in parameters,
        "ZONE": "CustomDomainHostedZoneId" in parameters,
    }
    for part, resources in OPTIONAL.items():
        assert (resources <= created) is wanted[part], part
        assert (resources & created == set()) is not wanted[part], part
    assert ("SendGridApiKeySecret" in created) is ("SendGridSecretArn" not in parameters)
    assert created >= ALWAYS


def test_the_custom_domain_serves_the_v3_stage_at_v3_with_tls_1_2() -> None:
    resources = cfn.load_template()["Resources"]
    domain = resources["CustomDomain"]["Properties"]
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["SecurityPolicy"] == "TLS_1_2"
    mapping = resources["CustomDomainMapping"]["Properties"]
    # The sendgrid client asks for host + "/v3/...": base path v3 on the v3 stage keeps SendGrid's paths.
    assert mapping["BasePath"] == "v3" and mapping["Stage"] == {"Ref": "ScheduledSendsApi.Stage"}
    record = resources["CustomDomainRecord"]["Properties"]
    assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": ["CustomDomain", "RegionalDomainName"]}


def test_a_domain_without_a_certificate_is_refused_by_a_template_rule() -> None:
    rules = cfn.load_template()["Rules"]
    needs_certificate = rules["CustomDomainNeedsCertificate"]
    assert needs_certificate["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CustomDomainName"}, ""]}]}
    assert needs_certificate["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CustomDomainCertificateArn"}, ""]}]
    }
