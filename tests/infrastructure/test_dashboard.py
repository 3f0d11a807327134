"""The CloudWatch dashboard in the template: valid, about this stack's API, and drawing only metrics the
service emits (tests/integration/test_dashboard_metrics.py shows them emitted with these dimensions)."""

from __future__ import annotations

import json
import re
from typing import Any

from local import template as cfn
from scheduled_sends.app.ops_queries import at_risk_gauges
from scheduled_sends.app.scan_summary import ScanSummary
from scheduled_sends.domain import errors
from tests.infrastructure.tooling import ROOT

LAYER_SOURCE = "\n".join(p.read_text() for p in (ROOT / "layers" / "shared" / "scheduled_sends").rglob("*.py"))


def _dashboard() -> dict[str, Any]:
    template = cfn.load_template()
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    rendered = (
        body.replace("${AWS::Region}", "eu-west-1")
        .replace("${AWS::StackName}", "prod-sends")
        .replace("${AtRiskWidgetFunctionAliaslive}", "arn:aws:lambda:eu-west-1:1:function:widget:live")
    )
    assert "${" not in rendered
    return json.loads(rendered)


def _widgets() -> dict[str, dict[str, Any]]:
    """The metric widgets by title (the custom widget draws HTML, not metrics)."""
    return {w["properties"]["title"]: w["properties"] for w in _dashboard()["widgets"] if w["type"] == "metric"}


def _emitted() -> set[str]:
    error_types = {
        c.__name__ for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ServiceError)
    }
    scanner = {f"Scanner{name.title().replace('_', '')}" for name in ScanSummary().counts()}
    literal = {
        "AccountsWatched",
        "AccountsAtSlotLimit",
        "AccountsNearSlotLimit",
        "MaxSlotsInUse",
        "PausedBatches",
        "StateWriteFailed",
        "UnexpectedError",
        "TeamTokenRefused",
        "TeamTokenAuthorizerFailed",
    }
    assert all(f'"{name}"' in LAYER_SOURCE for name in literal)
    at_risk = set(at_risk_gauges(_NoPausedBatches(), 0).metrics())  # the scanner's four at-risk gauges
    return error_types | scanner | literal | at_risk | {"SendGridAnswered429", "SendGridAnswered5xx"}


class _NoPausedBatches:
    """A store with no paused batch (the gauges' names do not depend on the rows)."""

    def by_expiry(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


def test_the_dashboard_draws_only_metrics_the_service_emits() -> None:
    drawn: set[str] = set()
    for widget in _widgets().values():
        for row in widget["metrics"]:
            if isinstance(row[0], str):
                assert row[0] == "ScheduledSends" and row[2:4] == ["service", "prod-sends"]  # this stack's only
                drawn.add(row[1])
            else:
                drawn |= set(re.findall(r'MetricName=\\?"(\w+)\\?"', row[0]["expression"]))
    api_gateway = {"Count", "Latency", "4XXError", "5XXError"}
    assert drawn - api_gateway <= _emitted()
    assert api_gateway <= drawn


def test_it_covers_what_an_operator_needs_to_see() -> None:
    widgets = _widgets()
    per_operation = [w for title, w in widgets.items() if title.endswith(("per operation", "per operation (ms)"))]
    # Requests, 4xx, 5xx and latency, each split by route (Method, Resource) of this stack's API only.
    assert {re.search(r'MetricName="(\w+)"', w["metrics"][0][0]["expression"]).group(1) for w in per_operation} == {
        "Count",
        "4XXError",
        "5XXError",
        "Latency",
    }
    api_name = cfn.resolve(
        cfn.load_template()["Resources"]["ScheduledSendsApi"]["Properties"]["Name"],
        {},
        {"AWS::StackName": "prod-sends"},
    )
    for widget in per_operation:
        expression = widget["metrics"][0][0]["expression"]
        assert "{AWS/ApiGateway,ApiName,Method,Resource,Stage}" in expression
        assert f'ApiName="{api_name}"' in expression
    scanner = next(w for title, w in widgets.items() if title.startswith("Expiry scanner"))
    assert {row[1] for row in scanner["metrics"]} >= {
        "ScannerWarned",
        "ScannerActioned",
        "ScannerExpired",
        "ScannerReclaimed",
        "ScannerDrift",
    }
    slots = next(w for title, w in widgets.items() if title.startswith("SendGrid slots"))
    # Aggregates whose number does not grow with accounts: no per-account dimension anywhere.
    assert {row[1] for row in slots["metrics"]} == {
        "AccountsAtSlotLimit",
        "AccountsNearSlotLimit",
        "MaxSlotsInUse",
        "AccountsWatched",
    }
    assert ",account," not in json.dumps(_dashboard())  # no SEARCH over a per-account dimension
    assert slots["annotations"]["horizontal"][0]["value"] == 10  # SendGrid's limit
    query = cfn.load_template()["Resources"]["TopAccountsBySlotsQuery"]["Properties"]
    assert "account reconciled" in query["QueryString"] and "sort slots desc" in query["QueryString"]
    paused = next(w for title, w in widgets.items() if title.startswith("Paused batches"))
    assert '{ScheduledSends,expires_in,service} service="prod-sends"' in paused["metrics"][0][0]["expression"]
    upstream = next(w for title, w in widgets.items() if title.startswith("SendGrid:"))
    assert {"SendGridAnswered429", "SendGridAnswered5xx", "UpstreamUnavailable"} <= {r[1] for r in upstream["metrics"]}
