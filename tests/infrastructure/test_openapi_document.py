"""The published OpenAPI document describes exactly the template's routes, and the local server serves it."""

from __future__ import annotations

import requests
import yaml

from local import template as cfn
from local.server import LocalService
from tests.support import OPERATIONS, OPS_OPERATIONS, ROOT

DOCUMENT = yaml.safe_load((ROOT / "openapi" / "scheduled-sends.yaml").read_text())


def test_the_document_has_exactly_the_templates_routes_under_v3() -> None:
    documented = {
        (method.upper(), path.removeprefix("/v3"), operation["operationId"])
        for path, methods in DOCUMENT["paths"].items()
        for method, operation in methods.items()
    }
    in_template = {(r.method, r.resource, r.code_dir.name) for r in cfn.routes(cfn.load_template())}
    assert documented == in_template
    assert {name for _, _, name in documented} == set(OPERATIONS) | set(OPS_OPERATIONS)


def test_the_documents_patterns_are_the_services_rules() -> None:
    from scheduled_sends.domain import validation
    from scheduled_sends.domain.batch import ACTIVE_STATUSES

    schemas = DOCUMENT["components"]["schemas"]
    assert schemas["BatchIdValue"]["pattern"] == f"^[A-Za-z0-9_-]{{1,{validation.BATCH_ID_MAX_LENGTH}}}$"
    assert sorted(schemas["Status"]["enum"]) == sorted(ACTIVE_STATUSES)
    parameters = DOCUMENT["components"]["parameters"]
    assert parameters["OnBehalfOf"]["in"] == "header"
    assert parameters["IdempotencyKey"]["name"] == "Idempotency-Key"


def test_the_local_server_serves_the_document(local_service: LocalService) -> None:
    as_json = requests.get(f"{local_service.url}/openapi.json", timeout=10)
    as_yaml = requests.get(f"{local_service.url}/openapi.yaml", timeout=10)
    assert as_json.json() == DOCUMENT
    assert yaml.safe_load(as_yaml.text) == DOCUMENT
