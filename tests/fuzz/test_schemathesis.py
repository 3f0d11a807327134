"""Schemathesis against the local server, driven by the published OpenAPI document.

Every operation gets positive and negative generated requests (2,100 examples in all, bounded in time):
no 5xx, answers conform to the document, and a request our validation refuses sends nothing to SendGrid.
Each operation is fuzzed once per module (on first use), so every test here also passes when run alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
import schemathesis
import yaml
from schemathesis import GenerationMode, checks
from schemathesis.generation.feedback import NO_FEEDBACK
from schemathesis.pytest._test_builder import build_operation_test

from local.container import reset_container
from local.server import LocalService
from tests.conftest import record_answers
from tests.fuzz import fuzz_settings
from tests.support import CANARY_KEY, ROOT, apply_base_environment

# One worker runs the whole module (make test: pytest-xdist, --dist loadgroup): each operation is fuzzed once per
# module, and the last test counts every operation's run.
pytestmark = pytest.mark.xdist_group("schemathesis")
EXAMPLES_PER_OPERATION = 300
ADMIN = "arn:aws:iam::111122223333:role/fuzz-admin"


def _document_as_served_locally() -> dict:
    """The published document without its SigV4 requirement: API Gateway checks signatures, the local server
    (documented as such) does not, so a missing signature is not something the handlers can refuse."""
    document = yaml.safe_load((ROOT / "openapi" / "scheduled-sends.yaml").read_text())
    document.pop("security")
    document["components"].pop("securitySchemes")
    return document


schema = schemathesis.openapi.from_dict(_document_as_served_locally())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# "METHOD path" -> (method, path) of every documented operation
OPERATIONS = {
    f"{method.upper()} {path}": (method, path)
    for path, methods in schema.raw_schema["paths"].items()
    for method in methods
}
# Not positive_data_acceptance: ownership, the 72 h send_at window and the 10-minute rule are rules the
# schema cannot express, so some schema-valid requests are rightly refused. Not ignored_auth: SigV4 is
# API Gateway's job and the local server does not check it.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


@dataclass
class OperationRun:
    """What fuzzing one operation did: requests sent by "METHOD path" (probes of methods the document does
    not list included) and the first failing case's error, if any."""

    counts: Counter[str] = field(default_factory=Counter)
    failure: BaseException | None = None


def _check_one(case: schemathesis.Case, service: LocalService, counts: Counter[str]) -> None:
    sandbox = service.sandbox
    before = len(sandbox.requests)
    response = case.call(base_url=service.url, timeout=10)
    counts[f"{case.method} {case.path}"] += 1
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:100])
    reached_sendgrid = len(sandbox.requests) > before
    # Every SendGrid answer carries it; schemathesis gives header names in lower case.
    from_sendgrid = "x-ratelimit-limit" in {name.lower() for name in response.headers}
    if 400 <= response.status_code < 500 and not from_sendgrid:
        assert not reached_sendgrid, "a request refused by our validation reached SendGrid"
    case.validate_response(response, checks=CHECKS)


def _fuzz(label: str) -> OperationRun:
    """One operation's generated requests against a fresh local server acting as an admin (so requests reach
    SendGrid's rules too). The test is built by the same builder `schema.parametrize()` uses, so the
    examples, coverage and fuzzing phases generate exactly what the parametrized test did."""
    method, path = OPERATIONS[label]
    run = OperationRun()

    @fuzz_settings(EXAMPLES_PER_OPERATION)
    def generated(case: schemathesis.Case) -> None:
        _check_one(case, service, run.counts)

    test = build_operation_test(
        config=schema.config, operation=schema[path][method], test_func=generated, given_kwargs={}, feedback=NO_FEEDBACK
    )
    with pytest.MonkeyPatch.context() as patch:
        apply_base_environment(patch)
        reset_container()
        service = LocalService(
            port=0,
            log=lambda line: None,
            scan_seconds=0,
            caller_arn=ADMIN,
            sendgrid_api_key=CANARY_KEY,
            parameters={"AdminPrincipals": ADMIN},  # deployed as an admin, as a template parameter
        ).start()
        record_answers(service)
        try:
            test()
        except Exception as failure:  # kept for the operation's own test, which raises it
            run.failure = failure
        finally:
            service.stop()
            reset_container()
    return run


@pytest.fixture(scope="module")
def fuzz() -> dict[str, OperationRun]:
    """label -> that operation's run; fuzzed on first use, once per module."""

    class Runs(dict):
        def __missing__(self, label: str) -> OperationRun:
            self[label] = _fuzz(label)
            return self[label]

    return Runs()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_generated_requests(fuzz: dict[str, OperationRun], label: str) -> None:
    run = fuzz[label]
    if run.failure is not None:
        raise run.failure
    assert run.counts[label] > 0, run.counts


def test_the_fuzz_run_sent_at_least_2000_requests(fuzz: dict[str, OperationRun]) -> None:
    """Seen: 2,235 requests to the 7 operations (235-344 each), plus probes of methods the document does
    not list. Fuzzes every operation not fuzzed yet in this module."""
    counts = sum((fuzz[label].counts for label in sorted(OPERATIONS)), Counter())
    documented = {k: v for k, v in counts.items() if k in OPERATIONS}
    assert set(documented) == set(OPERATIONS), counts
    assert sum(documented.values()) >= 2000, counts  # besides probes of undocumented methods
