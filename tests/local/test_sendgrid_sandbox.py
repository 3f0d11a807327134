"""The embedded SendGrid sandbox keeps SendGrid's documented rules (../shared/reference)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from local.http import _still_waiting_after
from local.sendgrid_sandbox import MAX_ACTIVE_BATCHES, SendGridSandbox

KEY = "SG.sandbox-test"


@pytest.fixture
def sandbox() -> Iterator[SendGridSandbox]:
    server = SendGridSandbox(KEY).start()
    yield server
    server.stop()


@pytest.fixture
def session(sandbox: SendGridSandbox) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {KEY}"
    return s


def _new_batch(session: requests.Session, url: str, **headers: str) -> str:
    response = session.post(f"{url}/v3/mail/batch", headers=headers)
    assert response.status_code == 201
    return response.json()["batch_id"]


def _message(response: requests.Response) -> str:
    return response.json()["errors"][0]["message"]


def test_a_wrong_or_missing_key_is_401(sandbox: SendGridSandbox) -> None:
    assert requests.get(f"{sandbox.url}/v3/user/scheduled_sends").status_code == 401
    wrong = requests.get(f"{sandbox.url}/v3/user/scheduled_sends", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert _message(wrong) == "authorization required"


def test_created_batch_ids_validate_and_unknown_ones_do_not(sandbox, session) -> None:
    batch = _new_batch(session, sandbox.url)
    assert session.get(f"{sandbox.url}/v3/mail/batch/{batch}").json() == {"batch_id": batch}
    unknown = session.get(f"{sandbox.url}/v3/mail/batch/never-made")
    assert unknown.status_code == 400
    assert _message(unknown) == "invalid batch id"


def test_pause_list_get_patch_delete_cycle(sandbox, session) -> None:
    batch = _new_batch(session, sandbox.url)
    assert session.get(f"{sandbox.url}/v3/user/scheduled_sends").json() == []

    created = session.post(f"{sandbox.url}/v3/user/scheduled_sends", json={"batch_id": batch, "status": "pause"})
    assert (created.status_code, created.json()) == (201, {"batch_id": batch, "status": "pause"})
    assert session.get(f"{sandbox.url}/v3/user/scheduled_sends").json() == [{"batch_id": batch, "status": "pause"}]
    assert session.get(f"{sandbox.url}/v3/user/scheduled_sends/{batch}").json() == [
        {"batch_id": batch, "status": "pause"}
    ]

    patched = session.patch(f"{sandbox.url}/v3/user/scheduled_sends/{batch}", json={"status": "cancel"})
    assert (patched.status_code, patched.content) == (204, b"")
    assert session.get(f"{sandbox.url}/v3/user/scheduled_sends/{batch}").json()[0]["status"] == "cancel"

    deleted = session.delete(f"{sandbox.url}/v3/user/scheduled_sends/{batch}")
    assert deleted.status_code == 204
    missing = session.get(f"{sandbox.url}/v3/user/scheduled_sends/{batch}")
    assert (missing.status_code, _message(missing)) == (404, "batch id not found")


def test_a_second_post_for_a_batch_with_a_status_says_try_patch(sandbox, session) -> None:
    batch = _new_batch(session, sandbox.url)
    session.post(f"{sandbox.url}/v3/user/scheduled_sends", json={"batch_id": batch, "status": "pause"})
    again = session.post(f"{sandbox.url}/v3/user/scheduled_sends", json={"batch_id": batch, "status": "cancel"})
    assert again.status_code == 400
    assert _message(again) == "a status for this batch id exists, try PATCH to update the status"


def test_at_most_ten_different_batches_are_paused_or_cancelled(sandbox, session) -> None:
    batches = [_new_batch(session, sandbox.url) for _ in range(MAX_ACTIVE_BATCHES + 1)]
    for batch in batches[:MAX_ACTIVE_BATCHES]:
        assert session.post(f"{sandbox.url}/v3/user/scheduled_sends", json={"batch_id": batch, "status": "cancel"}).ok
    over = session.post(f"{sandbox.url}/v3/user/scheduled_sends", json={"batch_id": batches[-1], "status": "pause"})
    assert (over.status_code, _message(over)) == (400, "max limit reached")
    session.delete(f"{sandbox.url}/v3/user/scheduled_sends/{batches[0]}")
    assert session.post(f"{sandbox.url}/v3/user/scheduled_sends", json={"batch_id": batches[-1], "status": "pause"}).ok


def test_patch_and_delete_of_a_batch_without_status_are_404(sandbox, session) -> None:
    batch = _new_batch(session, sandbox.url)
    assert session.patch(f"{sandbox.url}/v3/user/scheduled_sends/{batch}", json={"status": "pause"}).status_code == 404
    assert session.delete(f"{sandbox.url}/v3/user/scheduled_sends/{batch}").status_code == 404


def test_on_behalf_of_scopes_batches_per_subuser(sandbox, session) -> None:
    parent_batch = _new_batch(session, sandbox.url)
    sub_batch = _new_batch(session, sandbox.url, **{"on-behalf-of": "sub-a"})
    assert session.get(f"{sandbox.url}/v3/mail/batch/{sub_batch}").status_code == 400
    assert session.get(f"{sandbox.url}/v3/mail/batch/{sub_batch}", headers={"On-Behalf-Of": "sub-a"}).ok
    session.post(f"{sandbox.url}/v3/user/scheduled_sends", json={"batch_id": parent_batch, "status": "pause"})
    as_sub = session.get(f"{sandbox.url}/v3/user/scheduled_sends", headers={"on-behalf-of": "sub-a"})
    assert as_sub.json() == []


def test_unknown_status_is_400_and_every_answer_has_rate_limit_headers(sandbox, session) -> None:
    batch = _new_batch(session, sandbox.url)
    refused = session.post(f"{sandbox.url}/v3/user/scheduled_sends", json={"batch_id": batch, "status": "stop"})
    assert refused.status_code == 400
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert name in refused.headers


def test_faults_are_switched_on_over_http_and_hit_the_next_requests(sandbox: SendGridSandbox, session) -> None:
    assert requests.post(f"{sandbox.url}/sandbox/faults", json={"mode": "503", "times": 2}).json() == {
        "faults": [{"mode": "503", "remaining": 2}]
    }
    statuses = [session.get(f"{sandbox.url}/v3/user/scheduled_sends").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert requests.post(f"{sandbox.url}/sandbox/faults", json={"mode": "teapot"}).status_code == 400
    sandbox.inject("429", times=5)
    assert requests.delete(f"{sandbox.url}/sandbox/faults").json() == {"faults": []}
    assert session.get(f"{sandbox.url}/v3/user/scheduled_sends").status_code == 200


def test_429_fault_carries_rate_limit_headers(sandbox: SendGridSandbox, session) -> None:
    sandbox.inject("429")
    limited = session.get(f"{sandbox.url}/v3/user/scheduled_sends")
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert "X-RateLimit-Reset" in limited.headers


def test_a_slow_answer_is_applied_and_held_past_the_callers_timeout(sandbox: SendGridSandbox, session) -> None:
    order = {"mode": "slow", "times": 1, "delay_seconds": 60}  # far beyond the caller's 0.2 s read timeout
    assert requests.post(f"{sandbox.url}/sandbox/faults", json=order).json() == {
        "faults": [{"mode": "slow", "remaining": 1}]
    }
    with pytest.raises(requests.ReadTimeout):
        session.post(f"{sandbox.url}/v3/mail/batch", timeout=(5, 0.2))
    assert len(sandbox.batches()) == 1  # applied: the caller lost the answer to a change that did happen
    assert session.get(f"{sandbox.url}/v3/user/scheduled_sends", timeout=5).status_code == 200  # the next: at once


def test_a_held_answer_is_let_go_when_the_client_hangs_up_or_the_server_stops() -> None:
    server_side, client_side = socket.socketpair()
    with server_side, client_side:
        stopping = threading.Event()
        assert _still_waiting_after(server_side, 0, stopping)  # held its time, client still there: answer
        stopping.set()
        assert not _still_waiting_after(server_side, 30, stopping)  # the server stops: no answer
        client_side.close()  # the client's timeout fired
        assert not _still_waiting_after(server_side, 30, threading.Event())  # no answer, no wait


@pytest.fixture
def two_hosts() -> Iterator[dict[str, SendGridSandbox]]:
    """The global and the EU host of one parent account (global), which owns these subusers."""
    known = {
        "acme": "global",
        "eurocorp": "eu",
        **{f"sub-{i:03}": ("eu" if i % 5 == 0 else "global") for i in range(250)},
    }
    hosts = {region: SendGridSandbox(KEY, region=region, subusers=known).start() for region in ("global", "eu")}
    yield hosts
    for host in hosts.values():
        host.stop()


def test_each_host_serves_only_the_accounts_of_its_region_and_refuses_the_others_with_403(
    two_hosts: dict[str, SendGridSandbox], session: requests.Session
) -> None:
    world, eu = two_hosts["global"].url, two_hosts["eu"].url
    path = "/v3/user/scheduled_sends"
    for url, on_behalf_of, status in [
        (world, None, 200),
        (world, "acme", 200),
        (world, "account-id 42", 200),  # customer accounts live where the parent lives
        (world, "eurocorp", 403),
        (eu, "eurocorp", 200),
        (eu, "acme", 403),
        (eu, None, 403),
        (eu, "account-id 42", 403),
        (world, "nobody", 403),  # no such subuser anywhere
        (eu, "nobody", 403),
    ]:
        headers = {"on-behalf-of": on_behalf_of} if on_behalf_of else {}
        answer = session.get(url + path, headers=headers)
        assert answer.status_code == status, (url, on_behalf_of)
        if status == 403:
            assert _message(answer) == "access forbidden"
    batch = _new_batch(session, eu, **{"on-behalf-of": "eurocorp"})
    assert session.get(f"{world}/v3/mail/batch/{batch}", headers={"on-behalf-of": "eurocorp"}).status_code == 403


def test_the_parents_host_lists_subusers_in_pages_with_their_region_as_sendgrid_does(
    two_hosts: dict[str, SendGridSandbox], session: requests.Session
) -> None:
    url = f"{two_hosts['global'].url}/v3/subusers"
    first = session.get(url, params={"include_region": "true", "limit": 100}).json()
    assert len(first) == 100
    assert set(first[0]) == {"disabled", "email", "id", "username", "region"}
    assert first[:2] == [
        {"disabled": False, "email": "acme@example.com", "id": 1000, "username": "acme", "region": "global"},
        {"disabled": False, "email": "eurocorp@example.com", "id": 1001, "username": "eurocorp", "region": "eu"},
    ]
    pages = [session.get(url, params={"include_region": "true", "limit": 100, "offset": o}).json() for o in (100, 200)]
    assert [len(page) for page in pages] == [100, 52]
    everyone = {entry["username"]: entry["region"] for entry in first + pages[0] + pages[1]}
    assert len(everyone) == 252 and everyone["sub-005"] == "eu" and everyone["sub-006"] == "global"
    assert "region" not in session.get(url, params={"limit": 1}).json()[0]  # only with include_region=true
    only = session.get(url, params={"username": "eurocorp", "include_region": "true"}).json()
    assert [(e["username"], e["region"]) for e in only] == [("eurocorp", "eu")]
    assert session.get(url, params={"username": "nobody"}).json() == []
    eu_only = session.get(url, params={"region": "eu", "limit": 500}).json()
    assert len(eu_only) == 51
    assert session.get(url, params={"limit": "ten"}).status_code == 400
    assert session.get(url, params={"offset": "-1"}).status_code == 400
    assert session.get(f"{two_hosts['eu'].url}/v3/subusers").status_code == 403  # the parent is not there
    assert len(two_hosts["global"].subuser_list_requests) == 9
    assert two_hosts["global"].api_requests == []


def test_with_a_star_every_other_name_is_a_subuser_of_that_region_once_named(session: requests.Session) -> None:
    sandbox = SendGridSandbox(KEY, subusers={"eurocorp": "eu", "*": "global"}).start()
    try:
        listed = session.get(f"{sandbox.url}/v3/subusers", params={"include_region": "true"}).json()
        assert [e["username"] for e in listed] == ["eurocorp"]
        assert session.get(f"{sandbox.url}/v3/user/scheduled_sends", headers={"on-behalf-of": "newco"}).ok
        named = session.get(f"{sandbox.url}/v3/subusers", params={"username": "other", "include_region": "true"})
        assert [(e["username"], e["region"]) for e in named.json()] == [("other", "global")]
        listed = session.get(f"{sandbox.url}/v3/subusers", params={"include_region": "true"}).json()
        assert [(e["username"], e["region"]) for e in listed] == [
            ("eurocorp", "eu"),
            ("newco", "global"),
            ("other", "global"),
        ]
    finally:
        sandbox.stop()


def test_a_subuser_named_like_the_star_is_just_another_name(session: requests.Session) -> None:
    sandbox = SendGridSandbox(KEY).start()  # every name is a global subuser
    try:
        assert session.get(f"{sandbox.url}/v3/user/scheduled_sends", headers={"on-behalf-of": "*"}).ok
        named = session.get(f"{sandbox.url}/v3/subusers", params={"username": "*", "include_region": "true"})
        assert [(e["username"], e["region"]) for e in named.json()] == [("*", "global")]
    finally:
        sandbox.stop()
