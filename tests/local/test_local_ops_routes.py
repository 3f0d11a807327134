"""The on-call routes as `make run` serves them (routes read from the template): two teams pause batches in three
accounts, time moves to within an hour of the first expiry, an admin finds it with its owner, account and time
left, and a non-admin gets 403."""

from __future__ import annotations

from typing import Any

import requests

from local.server import CALLER_HEADER, LocalService

TEAM_A = "arn:aws:iam::000000000000:user/team-a"
TEAM_B = "arn:aws:iam::000000000000:user/team-b"
ADMIN = "arn:aws:iam::000000000000:user/oncall"
HOUR = 3600


def _pause(service: LocalService, caller: str, on_behalf_of: str | None, send_in: int) -> str:
    headers = {CALLER_HEADER: caller, **({"on-behalf-of": on_behalf_of} if on_behalf_of else {})}
    send_at = service.now() + send_in
    created = requests.post(f"{service.url}/v3/mail/batch", json={"send_at": send_at}, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    batch_id = created.json()["batch_id"]
    paused = requests.post(
        f"{service.url}/v3/user/scheduled_sends",
        json={"batch_id": batch_id, "status": "pause", "send_at": send_at},
        headers=headers,
        timeout=10,
    )
    assert paused.status_code == 201, paused.text
    return batch_id


def _get(service: LocalService, path: str, caller: str = ADMIN, **params: Any) -> requests.Response:
    return requests.get(f"{service.url}/v3{path}", params=params, headers={CALLER_HEADER: caller}, timeout=10)


def test_make_runs_server_answers_the_on_call_routes(start_local_service) -> None:
    service = start_local_service(parameters={"AdminPrincipals": ADMIN})
    soon = _pause(service, TEAM_A, "acme", 20 * 60)
    later = _pause(service, TEAM_B, None, 5 * HOUR)
    _pause(service, TEAM_A, "account-id 42", 30 * HOUR)
    moved = requests.post(f"{service.url}/_local/clock", json={"advance": "71h30m"}, timeout=60)
    assert moved.status_code == 200, moved.text

    at_risk = _get(service, "/ops/batches", status="pause", expires_within="1h")
    assert at_risk.status_code == 200, at_risk.text
    (batch,) = at_risk.json()["batches"]
    assert (batch["batch_id"], batch["account"], batch["owner"], batch["region"]) == (soon, "acme", TEAM_A, "global")
    assert 0 < batch["seconds_left"] <= HOUR and batch["expires_at_iso"].endswith("Z")

    everything = _get(service, "/ops/batches", limit="2")
    assert [b["batch_id"] for b in everything.json()["batches"]] == [soon, later]
    rest = _get(service, "/ops/batches", limit="2", next_token=everything.json()["next_token"])
    assert len(rest.json()["batches"]) == 1 and rest.json()["next_token"] is None

    one = _get(service, f"/ops/batches/{soon}", account="acme")
    assert one.status_code == 200 and one.json()["history"][0]["changed_by"] == TEAM_A

    for path in ("/ops/batches", f"/ops/batches/{soon}"):
        refused = _get(service, path, caller=TEAM_A)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["message"].startswith("the /ops routes are for the stack's admins")
