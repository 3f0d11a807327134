"""Schemathesis against the local server in token mode (AuthMode=TOKEN): with a valid team token no
generated request gets a 5xx, and schemathesis' own `ignored_auth` check confirms that every operation
refuses the same request without the token and with an invalid one (both 401 from the authorizer)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import schemathesis
import yaml
from schemathesis import GenerationMode, checks

from local.server import LocalService
from scheduled_sends.adapters.token_table import TokenStore
from scheduled_sends.domain import tokens
from tests.fuzz import fuzz_settings
from tests.support import ROOT

EXAMPLES_PER_OPERATION = 40


def _document_in_token_mode() -> dict:
    """The published document with only the team-token scheme, as a TOKEN stack serves it."""
    document = yaml.safe_load((ROOT / "openapi" / "scheduled-sends.yaml").read_text())
    document["security"] = [{"teamToken": []}]
    return document


# make test runs this module in one process of its own (not under pytest-xdist): the last test reads the counts the
# generated tests left in this module, and schemathesis' generated items do not take an xdist_group mark.

schema = schemathesis.openapi.from_dict(_document_in_token_mode())
schema.config.generation.update(modes=[GenerationMode.POSITIVE])
COUNTS: Counter[str] = Counter()
ENFORCED: Counter[str] = Counter()


@pytest.fixture
def token_service(start_local_service: Callable[..., LocalService]) -> tuple[LocalService, str]:
    """The local server in token mode and a token of an admin team, so requests reach SendGrid's rules too."""
    service = start_local_service(parameters={"AuthMode": "TOKEN", "AdminPrincipals": "team:fuzz"})
    token, record = tokens.new_token("fuzz", [], now=0)
    TokenStore(service.aws_resource("dynamodb").Table(service.refs["TeamTokensTable"])).add(record)
    return service, token


@schema.parametrize()
@fuzz_settings(EXAMPLES_PER_OPERATION)
def test_generated_requests_with_a_token(case: schemathesis.Case, token_service: tuple[LocalService, str]) -> None:
    service, token = token_service
    headers = {"Authorization": f"Bearer {token}"}
    response = case.call(base_url=service.url, headers=headers, timeout=10)
    COUNTS[f"{case.method} {case.path}"] += 1
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:100])
    assert response.status_code != 401, "a valid token was refused"
    case.validate_response(response, checks=[checks.not_a_server_error, checks.ignored_auth], headers=headers)
    if 200 <= response.status_code < 300:
        ENFORCED[f"{case.method} {case.path}"] += 1  # ignored_auth probed this operation without/with bad auth


def test_every_operation_was_exercised_and_auth_probed_where_it_succeeded() -> None:
    """Runs after the generated tests above (same module, file order). Generated batch ids are unknown to the
    service, so only create, list and the admins' list across accounts succeed (and get probed);
    tests/local/test_token_mode.py refuses a missing and a wrong token on every route explicitly."""
    operations = {f"{m.upper()} {p}" for p, methods in schema.raw_schema["paths"].items() for m in methods}
    assert set(COUNTS) >= operations, COUNTS
    assert set(ENFORCED) == {"POST /v3/mail/batch", "GET /v3/user/scheduled_sends", "GET /v3/ops/batches"}, ENFORCED
