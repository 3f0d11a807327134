"""The metrics the dashboard draws are really emitted, with the dimensions its SEARCH expressions expect
(read from the embedded-metric-format lines the handlers print, as CloudWatch Logs would)."""

from __future__ import annotations

import json

import pytest

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.domain.expiry_buckets import EXPIRY_BUCKETS
from tests.support import SCANNER_TIMEOUT_MS, invoke, load_handler

TEAM = "arn:aws:iam::111122223333:user/team-a"
HOUR = 3600


def _emf(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def _values(lines: list[dict], metric: str, dimension: str) -> dict[str, float]:
    """dimension value -> metric value, for lines whose dimension set is exactly [dimension, service]."""
    found = {}
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        if any(m["Name"] == metric for m in directive["Metrics"]):
            assert directive["Namespace"] == "ScheduledSends"
            assert directive["Dimensions"] == [[dimension, "service"]]
            found[line[dimension]] = line[metric][0] if isinstance(line[metric], list) else line[metric]
    return found


def _pause(clock, headers: list[tuple[str, str]], send_in: int | None) -> None:
    body = {"send_at": clock.now + send_in} if send_in else None
    created = invoke("create_batch_id", body=body, headers=headers, caller_arn=TEAM)
    batch = json.loads(created["body"])["batch_id"]
    paused = invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, headers=headers, caller_arn=TEAM)
    assert paused["statusCode"] == 201


def test_the_scanner_reports_slot_aggregates_and_paused_batches_by_time_left_with_no_account_dimension(
    sandbox_sendgrid: SendGridSandbox, clock, capsys: pytest.CaptureFixture[str], json_logs
) -> None:
    json_body = [("Content-Type", "application/json")]
    acme = [*json_body, ("on-behalf-of", "acme")]
    _pause(clock, json_body, send_in=HOUR)
    _pause(clock, json_body, send_in=None)  # no send_at: watched against its earliest possible expiry
    _pause(clock, acme, send_in=HOUR)
    clock.now += 70 * HOUR  # the two with send_at expire in 3 hours, the one without at the earliest in 1 h 50
    capsys.readouterr()

    load_handler("expiry_scanner")(
        {"source": "aws.events"}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)
    )

    output = capsys.readouterr().out
    lines = _emf(output)
    (aggregates,) = [line for line in lines if "MaxSlotsInUse" in line]
    assert aggregates["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]  # no per-account dimension
    assert (aggregates["AccountsWatched"], aggregates["MaxSlotsInUse"]) == ([2.0], [2.0])
    assert (aggregates["AccountsAtSlotLimit"], aggregates["AccountsNearSlotLimit"]) == ([0.0], [0.0])
    assert all("account" not in d for line in lines for d in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])
    # the per-account figures are in the structured log, one line per reconciled account
    reconciled = [json.loads(x) for x in json_logs.getvalue().splitlines() if '"account reconciled"' in x]
    assert {(r["account"], r["slots_in_use"]) for r in reconciled} == {("parent", 2), ("sub:acme", 1)}
    paused = _values(lines, "PausedBatches", "expires_in")
    assert set(paused) == set(EXPIRY_BUCKETS)  # every bucket, zeros included, so the graph has no gaps
    assert {bucket: n for bucket, n in paused.items() if n} == {"1h-6h": 3.0}  # none "unknown" any more


def test_every_429_and_5xx_answer_from_sendgrid_is_counted(
    sandbox_sendgrid: SendGridSandbox, clock, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox_sendgrid.inject("429", times=2)
    sandbox_sendgrid.inject("503", times=1)
    assert invoke("create_batch_id", caller_arn=TEAM)["statusCode"] == 201  # retried through all three

    (line,) = [line for line in _emf(capsys.readouterr().out) if "SendGridAnswered429" in line]
    assert line["SendGridAnswered429"] == [1.0, 1.0]
    assert line["SendGridAnswered5xx"] == [1.0]


def test_a_request_flushes_its_metrics_once_and_one_without_metrics_prints_none(
    sandbox_sendgrid: SendGridSandbox, clock, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert invoke("create_batch_id", caller_arn=TEAM)["statusCode"] == 201
    assert _emf(capsys.readouterr().out) == []  # no metric added: no EMF line (and no warning)

    refused = invoke("pause_or_cancel", body={"batch_id": "../x", "status": "pause"}, caller_arn=TEAM)
    assert refused["statusCode"] == 400
    (line,) = _emf(capsys.readouterr().out)  # one line per request, whatever it added
    assert line["BadRequest"] == [1.0]
    assert invoke("create_batch_id", caller_arn=TEAM)["statusCode"] == 201
    assert _emf(capsys.readouterr().out) == []  # flushed and cleared: nothing carried into the next request
