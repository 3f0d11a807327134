"""Schemathesis against the local server, driven by the published OpenAPI document.

Every operation gets positive and negative generated requests (2,100 examples in all, bounded in time):
no 5xx, answers conform to the document, and a request our validation refuses sends nothing to SendGrid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import schemathesis
import yaml
from schemathesis import GenerationMode, checks

from local.server import LocalService
from tests.fuzz import fuzz_settings
from tests.support import ROOT

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
COUNTS: Counter[str] = Counter()
OPERATIONS = {f"{method.upper()} {path}" for path, methods in schema.raw_schema["paths"].items() for method in methods}
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


@pytest.fixture
def fuzz_service(start_local_service: Callable[..., LocalService]) -> LocalService:
    """The local server per operation, acting as an admin so requests reach SendGrid's rules too."""
    return start_local_service(caller_arn=ADMIN, parameters={"AdminPrincipals": ADMIN})


@schema.parametrize()
@fuzz_settings(EXAMPLES_PER_OPERATION)
def test_generated_requests(case: schemathesis.Case, fuzz_service: LocalService) -> None:
    sandbox = fuzz_service.sandbox
    before = len(sandbox.requests)
    response = case.call(base_url=fuzz_service.url, timeout=10)
    COUNTS[f"{case.method} {case.path}"] += 1
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:100])
    reached_sendgrid = len(sandbox.requests) > before
    # Every SendGrid answer carries it; schemathesis gives header names in lower case.
    from_sendgrid = "x-ratelimit-limit" in {name.lower() for name in response.headers}
    if 400 <= response.status_code < 500 and not from_sendgrid:
        assert not reached_sendgrid, "a request refused by our validation reached SendGrid"
    case.validate_response(response, checks=CHECKS)


def test_the_fuzz_run_sent_at_least_2000_requests() -> None:
    """Runs after the generated tests above (same module, file order). Seen: 2,235 requests to the 7
    operations (235-344 each), plus probes of methods the document does not list."""
    documented = {k: v for k, v in COUNTS.items() if k in OPERATIONS}
    assert set(documented) == OPERATIONS, COUNTS
    assert sum(documented.values()) >= 2000, COUNTS  # besides probes of undocumented methods
