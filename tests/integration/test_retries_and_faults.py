"""Retries within a deadline, and full flows under the sandbox's injected SendGrid faults."""

from __future__ import annotations

import json
import os

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import FAULTS, SendGridSandbox
from scheduled_sends.adapters import event_bus as bus
from scheduled_sends.adapters.batches_table import batch_store
from scheduled_sends.adapters.sendgrid.client import RetryPolicy, SendGridClient
from scheduled_sends.domain.errors import UpstreamRateLimited, UpstreamUnavailable
from tests.support import SCANNER_TIMEOUT_MS, VirtualTime, error_of, invoke, load_handler

TEAM = "arn:aws:iam::111122223333:user/team-a"
HOUR = 3600


def _client(server: HTTPServer, clock: VirtualTime, budget: float = 20.0) -> SendGridClient:
    return SendGridClient(
        server.url_for("/").rstrip("/"),
        lambda refresh: "SG.key",
        1.0,
        1.0,
        retry=RetryPolicy(4, 0.5, 8.0, budget),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )


def _sequence(server: HTTPServer, *answers: Response) -> None:
    for answer in answers:
        server.expect_ordered_request("/v3/user/scheduled_sends").respond_with_response(answer)


def test_429_is_retried_after_the_wait_sendgrid_asks_for(httpserver: HTTPServer) -> None:
    clock = VirtualTime()
    _sequence(httpserver, Response("", status=429, headers={"Retry-After": "2"}), Response("[]", status=200))

    answer = _client(httpserver, clock).call("GET", "/v3/user/scheduled_sends")

    assert answer.status == 200
    assert clock.sleeps == [2.0]


def test_5xx_and_dropped_answers_are_retried_with_full_jitter(httpserver: HTTPServer) -> None:
    clock = VirtualTime()
    _sequence(httpserver, Response("", status=500), Response("", status=503), Response("[]", status=200))

    answer = _client(httpserver, clock).call("GET", "/v3/user/scheduled_sends")

    assert answer.status == 200
    assert answer.uncertain  # a 5xx may have been applied: the operation double-checks where it matters
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] < 0.5
    assert 0 <= clock.sleeps[1] < 1.0


def test_retries_stop_at_the_attempt_limit(httpserver: HTTPServer) -> None:
    clock = VirtualTime()
    httpserver.expect_request("/v3/user/scheduled_sends").respond_with_data("", status=500)
    with pytest.raises(UpstreamUnavailable, match="500"):
        _client(httpserver, clock).call("GET", "/v3/user/scheduled_sends")
    assert len(httpserver.log) == 4


def test_retries_never_outlive_the_deadline(httpserver: HTTPServer) -> None:
    clock = VirtualTime()
    httpserver.expect_request("/v3/user/scheduled_sends").respond_with_response(
        Response("", status=429, headers={"Retry-After": "30"})
    )
    with pytest.raises(UpstreamRateLimited) as refused:
        _client(httpserver, clock, budget=10.0).call("GET", "/v3/user/scheduled_sends")
    assert refused.value.headers == {"Retry-After": "30"}
    assert clock.sleeps == []  # waiting 30 s would pass the 10 s deadline: answer at once instead
    assert len(httpserver.log) == 1


# A "slow" answer is held this long: far beyond the client's 0.5 s read timeout (tests/support.py), so the
# timeout always fires and the sandbox drops the answer when the client hangs up. Nothing races a clock.
HELD_SECONDS = 60.0
LOST_ANSWER = ("slow", "drop")  # applied by SendGrid, answer never received
ATTEMPTS = 4  # the retry policy's limit: SENDGRID_MAX_ATTEMPTS, unset here, defaults to 4 (config.py)


def _inject(sandbox: SendGridSandbox, fault: str | None, times: int = 1, paths: tuple[str, ...] = ()) -> None:
    if fault:
        sandbox.inject(fault, times=times, delay_seconds=HELD_SECONDS, paths=paths)


def _flow(clock, sandbox: SendGridSandbox, fault: str | None) -> tuple[str, list[dict]]:
    """create -> pause -> scanner -> resume, with `fault` hitting the first attempt of every step."""
    answers = []
    send_at = clock.now + HOUR

    def step(response: dict) -> dict:
        answers.append(response)
        return response

    _inject(sandbox, fault)
    created = step(invoke("create_batch_id", body={"send_at": send_at}, caller_arn=TEAM))
    batch = json.loads(created["body"])["batch_id"]
    _inject(sandbox, fault)
    step(invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM))
    clock.now = send_at + 72 * HOUR - 23 * HOUR  # the 24 h warning is due
    _inject(sandbox, fault, paths=("/v3/user/scheduled_sends",))
    load_handler("expiry_scanner")({}, LocalLambdaContext("scanner", remaining_ms=SCANNER_TIMEOUT_MS))
    _inject(sandbox, fault)
    step(invoke("resume_scheduled_send", batch_id=batch, caller_arn=TEAM))
    return batch, answers


def _sent(sandbox: SendGridSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sandbox.requests]


@pytest.mark.parametrize("fault", [None, *FAULTS])
def test_a_full_flow_under_each_fault_succeeds_once_and_agrees_with_sendgrid(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, fault: str | None
) -> None:
    batch, answers = _flow(clock, sandbox_sendgrid, fault)

    assert [a["statusCode"] for a in answers] == [201, 201, 204]
    # Each step's first attempt met the fault and the retry (the second of the policy's attempts) succeeded.
    # Where that first attempt was applied but its answer lost, the pause's retry is refused ("a status
    # exists") and one GET confirms the earlier attempt did it; the resume's retry finds it gone (404).
    twice = 1 if fault is None else 2
    assert _sent(sandbox_sendgrid) == [
        *[("POST", "/v3/mail/batch")] * twice,
        *[("POST", "/v3/user/scheduled_sends")] * twice,
        *([("GET", f"/v3/user/scheduled_sends/{batch}")] if fault in LOST_ANSWER else []),
        # the scanner's reconcile; after a 429 it leaves SendGrid to the teams for the rest of its run
        *[("GET", "/v3/user/scheduled_sends")] * (1 if fault == "429" else twice),
        *[("DELETE", f"/v3/user/scheduled_sends/{batch}")] * twice,
    ]
    assert sandbox_sendgrid.statuses() == {}  # resumed
    row = batch_store().get("parent", batch)
    assert (row.status, row.owner) == (None, TEAM)
    # Creating a batch id is not idempotent at SendGrid: a create whose answer was lost made a batch id that
    # nobody heard of, and the retry made the one the caller got. The orphan holds no slot and is untracked.
    created = sandbox_sendgrid.batches()
    assert batch in created
    assert len(created) == (2 if fault in LOST_ANSWER else 1)
    orphans = created - {batch}
    assert all(batch_store().get("parent", orphan) is None for orphan in orphans)
    pauses = [r for r in sandbox_sendgrid.requests if r.method == "POST" and r.path == "/v3/user/scheduled_sends"]
    assert {json.loads(r.body)["batch_id"] for r in pauses} == {batch}  # retries, never another batch
    warnings = [e for e in published_events() if e["detail-type"] == bus.EXPIRY_WARNING]
    assert [w["detail"]["batch_id"] for w in warnings] == [batch]  # once, whatever the fault did


# What the caller gets when every attempt meets the fault: rate limited (503), SendGrid failing or gone
# (502), or never answered in time (504).
LASTING = {"429": 503, "500": 502, "503": 502, "slow": 504, "drop": 502}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_lasting_fault_gives_a_clear_error_and_the_scanner_repairs_the_table_after(
    sandbox_sendgrid: SendGridSandbox, clock, published_events, fault: str
) -> None:
    assert set(LASTING) == set(FAULTS)
    batch = json.loads(invoke("create_batch_id", caller_arn=TEAM)["body"])["batch_id"]
    _inject(sandbox_sendgrid, fault, times=100)

    refused = invoke("pause_or_cancel", body={"batch_id": batch, "status": "pause"}, caller_arn=TEAM)

    assert refused["statusCode"] == LASTING[fault]
    assert error_of(refused)["message"]
    # as many attempts as the retry policy allows, then the answer: no more, no GET (no answer was seen)
    assert "SENDGRID_MAX_ATTEMPTS" not in os.environ
    assert _sent(sandbox_sendgrid) == [("POST", "/v3/mail/batch"), *[("POST", "/v3/user/scheduled_sends")] * ATTEMPTS]
    assert batch_store().get("parent", batch).status is None  # nothing half-written on our side
    sandbox_sendgrid.clear_faults()
    clock.now += 60  # the scanner's next run (reconcile leaves rows written in the second it lists alone)
    load_handler("expiry_scanner")({}, LocalLambdaContext("scanner", remaining_ms=SCANNER_TIMEOUT_MS))
    applied = sandbox_sendgrid.statuses()  # "slow" and "drop" applied the pause before the answer was lost
    assert applied == ({batch: "pause"} if fault in LOST_ANSWER else {})
    row = batch_store().get("parent", batch)
    assert row.status == applied.get(batch)
    assert row.owner == TEAM


@pytest.mark.usefixtures("as_admin")
@pytest.mark.parametrize(("remaining_ms", "attempts"), [(20_000, 4), (2_000, 1)])
def test_the_retry_deadline_comes_from_the_functions_remaining_time(
    fake_sendgrid: HTTPServer, remaining_ms: int, attempts: int
) -> None:
    from local.events import proxy_event

    fake_sendgrid.expect_request("/v3/user/scheduled_sends").respond_with_response(
        Response("", status=429, headers={"Retry-After": "0.6"})
    )
    event = proxy_event(
        method="GET",
        resource="/user/scheduled_sends",
        path="/user/scheduled_sends",
        caller_arn="arn:aws:iam::111122223333:user/team-a",
    )
    context = LocalLambdaContext("list_scheduled_sends", remaining_ms=remaining_ms)

    response = load_handler("list_scheduled_sends")(event, context)

    assert response["statusCode"] == 503
    # 20 s left: 3 waits of 0.6 s fit, so all 4 attempts are made; 2 s left (a 0.5 s budget after the answer
    # margin): waiting 0.6 s would outlive the invocation, so the caller is answered at once.
    assert len(fake_sendgrid.log) == attempts
