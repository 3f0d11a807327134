"""The official `sendgrid` client with `impersonate_subuser`, through the local server: an EU subuser's calls
reach only the EU host's sandbox, a global subuser's only the global one, for all seven operations."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from python_http_client.exceptions import BadRequestsError
from sendgrid import SendGridAPIClient

from local.sendgrid_sandbox import SendGridSandbox
from local.server import LocalService
from tests.support import CANARY_KEY

SUBUSERS = "acme:global,eurocorp:eu"  # no "*": any other name is unknown to SendGrid


def _client(service: LocalService, subuser: str | None) -> SendGridAPIClient:
    return SendGridAPIClient("team-credential-not-a-sendgrid-key", host=service.url, impersonate_subuser=subuser)


def _all_seven_operations(service: LocalService, subuser: str | None) -> str:
    sg = _client(service, subuser).client
    batch = sg.mail.batch.post().to_dict["batch_id"]
    assert sg.mail.batch._(batch).get().to_dict == {"batch_id": batch}
    assert sg.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"}).status_code == 201
    assert [e["batch_id"] for e in sg.user.scheduled_sends.get().to_dict] == [batch]
    assert sg.user.scheduled_sends._(batch).get().to_dict[0]["status"] == "pause"
    assert sg.user.scheduled_sends._(batch).patch(request_body={"status": "cancel"}).status_code == 204
    assert sg.user.scheduled_sends._(batch).delete().status_code == 204
    return batch


def _operations(sandbox: SendGridSandbox) -> list[tuple[str, str, str | None]]:
    """(method, path without the batch id, on-behalf-of) of each call of the operations that reached the host."""
    return [(r.method, "/".join(r.path.split("/")[:4]), r.headers.get("on-behalf-of")) for r in sandbox.api_requests]


SEVEN = [
    ("POST", "/v3/mail/batch"),
    ("GET", "/v3/mail/batch"),
    ("POST", "/v3/user/scheduled_sends"),
    ("GET", "/v3/user/scheduled_sends"),
    ("GET", "/v3/user/scheduled_sends"),
    ("PATCH", "/v3/user/scheduled_sends"),
    ("DELETE", "/v3/user/scheduled_sends"),
]


@pytest.fixture
def regional_service(start_local_service: Callable[..., LocalService]) -> LocalService:
    return start_local_service(subusers=SUBUSERS)


@pytest.mark.parametrize(("subuser", "home", "elsewhere"), [("eurocorp", "eu", "global"), ("acme", "global", "eu")])
def test_all_seven_operations_reach_only_the_subusers_own_regions_host(
    regional_service: LocalService, subuser: str, home: str, elsewhere: str
) -> None:
    _all_seven_operations(regional_service, subuser)

    sandboxes = regional_service.sandboxes
    assert _operations(sandboxes[home]) == [(method, path, subuser) for method, path in SEVEN]
    assert sandboxes[elsewhere].api_requests == []  # not one call of the subuser's reached the other host
    assert sandboxes[home].statuses(subuser) == {}


def test_the_parent_stays_at_the_stacks_region_and_subusers_of_both_regions_mix(
    regional_service: LocalService,
) -> None:
    for subuser in ("eurocorp", None, "acme", "eurocorp"):
        _all_seven_operations(regional_service, subuser)

    world, eu = regional_service.sandboxes["global"], regional_service.sandboxes["eu"]
    assert {who for _, _, who in _operations(eu)} == {"eurocorp"}
    assert {who for _, _, who in _operations(world)} == {None, "acme"}
    # Each of the seven functions (a container each) read the list once, however often it was called, and at
    # the parent's host only.
    assert len(world.subuser_list_requests) == 7
    assert eu.subuser_list_requests == []


def test_an_unknown_subuser_is_a_400_through_the_client_and_reaches_no_host(regional_service: LocalService) -> None:
    sg = _client(regional_service, "ghost").client
    with pytest.raises(BadRequestsError) as refused:  # the caller's mistake: not worth retrying as a 5xx would be
        sg.mail.batch.post()
    assert "Retry-After" not in refused.value.headers
    error = json.loads(refused.value.body)["errors"][0]
    assert error["field"] == "on-behalf-of" and "subuser list for the parent account does not hold" in error["message"]
    assert all(s.api_requests == [] for s in regional_service.sandboxes.values())


def test_an_eu_stack_serves_the_parent_at_the_eu_host(start_local_service: Callable[..., LocalService]) -> None:
    service = start_local_service(subusers=SUBUSERS, parameters={"SendGridRegion": "eu"})
    _all_seven_operations(service, None)
    _all_seven_operations(service, "acme")
    world, eu = service.sandboxes["global"], service.sandboxes["eu"]
    assert {who for _, _, who in _operations(eu)} == {None}
    assert {who for _, _, who in _operations(world)} == {"acme"}
    assert len(eu.subuser_list_requests) == 7 and world.subuser_list_requests == []  # once per function


def test_each_host_gets_its_own_key_when_the_secret_holds_one_per_region(
    start_local_service: Callable[..., LocalService],
) -> None:
    service = start_local_service(
        subusers=SUBUSERS, sendgrid_api_key="SG.local-global-key", sendgrid_eu_api_key=CANARY_KEY
    )
    _all_seven_operations(service, "eurocorp")
    _all_seven_operations(service, "acme")
    world, eu = service.sandboxes["global"], service.sandboxes["eu"]
    assert {r.headers["Authorization"] for r in eu.requests} == {f"Bearer {CANARY_KEY}"}
    assert {r.headers["Authorization"] for r in world.requests} == {"Bearer SG.local-global-key"}
