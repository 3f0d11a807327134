"""AWS's own rules for the template: cfn-lint with the serverless rules (cfn-lint-serverless) and checkov. Both
must find nothing; a rule that does not apply here is suppressed on the resource it concerns, in the template's
Metadata, with its reason in one line. The last test shows each tool failing on a real finding."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from local import template as cfn
from tests.infrastructure.tooling import ROOT

TEMPLATE = ROOT / "template.yaml"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    # The library's entry point under this interpreter (a copied venv's scripts may name another python).
    code = "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())"
    command = [sys.executable, "-c", code, str(path), "-a", "cfn_lint_serverless.rules", "--format", "parseable"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _checkov(path: Path) -> dict:
    assert CHECKOV.exists(), "checkov's venv is missing: `make test` creates it (requirements-checkov.txt)"
    command = [str(CHECKOV), "-f", str(path), "--framework", "cloudformation", "-o", "json", "--skip-download"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_LOG_LEVEL": "ERROR"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.mark.slow
def test_cfn_lint_with_the_serverless_rules_finds_nothing() -> None:
    result = _cfn_lint(TEMPLATE)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_finds_nothing() -> None:
    report = _checkov(TEMPLATE)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 40 and report["summary"]["parsing_errors"] == 0


def test_every_suppression_says_why_in_one_line() -> None:
    suppressions = 0
    for name, resource in cfn.load_template()["Resources"].items():
        metadata = resource.get("Metadata", {})
        for skip in metadata.get("checkov", {}).get("skip", []):
            assert set(skip) == {"id", "comment"} and len(skip["comment"]) > 20 and "\n" not in skip["comment"], name
            suppressions += 1
        ignored = metadata.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
        suppressions += len(ignored)
    assert suppressions > 0
    # cfn-lint's ignore_checks are rule ids: each carries its reason as the comment on its own line.
    rule_lines = re.findall(r"^ +- [EWI]S?\d{4}.*$", TEMPLATE.read_text(), re.M)
    assert rule_lines and all(re.search(r"  # \S.{20,}", line) for line in rule_lines), rule_lines


@pytest.mark.slow
def test_both_tools_fail_on_a_real_finding(tmp_path: Path) -> None:
    """Without the scanner's log group (Lambda's own, kept for ever) and without the reason for the API's missing
    cache, each tool reports it: the clean runs above are a result, not a tool that cannot fail."""
    template = cfn.load_template()
    del template["Resources"]["ExpiryScannerFunctionLogGroup"]
    scanner = template["Resources"]["ExpiryScannerFunction"]
    del scanner["Properties"]["LoggingConfig"], scanner["Metadata"]["cfn-lint"]
    del template["Resources"]["ScheduledSendsApi"]["Metadata"]
    broken = tmp_path / "template.yaml"
    broken.write_text(json.dumps(template))
    lint = _cfn_lint(broken)
    assert lint.returncode != 0 and "WS1004" in lint.stdout and "ExpiryScannerFunction" in lint.stdout
    failed = [(c["check_id"], c["resource"]) for c in _checkov(broken)["results"]["failed_checks"]]
    assert failed == [("CKV_AWS_120", "AWS::Serverless::Api.ScheduledSendsApi")]
