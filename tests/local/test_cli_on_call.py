"""The on-call path as an operator walks it against `make run`'s stack: two teams pause batches in three
accounts, the clock moves to within an hour of the first expiry, `scheduled-sends at-risk --local` shows that
batch with its owner, account and time left, `resume` acts as the operator and the change event names the
operator; a caller who is no admin gets exit code 3."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable

import requests

from local.server import CALLER_HEADER, DEFAULT_CALLER_ARN, LocalService
from scheduled_sends_cli.__main__ import main

TEAM_A = "arn:aws:iam::111122223333:user/team-a"
TEAM_B = "arn:aws:iam::111122223333:user/team-b"
HOUR = 3600


def _cli(service: LocalService, *arguments: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*arguments, "--local", service.url], stdin=io.StringIO(), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _pause(service: LocalService, team: str, account: str | None, send_at: int) -> str:
    headers = {CALLER_HEADER: team, **({"on-behalf-of": account} if account else {})}
    batch_id = requests.post(
        f"{service.url}/v3/mail/batch", json={"send_at": send_at}, headers=headers, timeout=30
    ).json()["batch_id"]
    paused = requests.post(
        f"{service.url}/v3/user/scheduled_sends",
        json={"batch_id": batch_id, "status": "pause"},
        headers=headers,
        timeout=30,
    )
    assert paused.status_code == 201, paused.text
    return batch_id


def test_from_at_risk_to_an_audited_resume(start_local_service: Callable[..., LocalService]) -> None:
    service = start_local_service(parameters={"AdminPrincipals": DEFAULT_CALLER_ARN})
    now = requests.get(f"{service.url}/_local/clock", timeout=30).json()["now"]
    soon = _pause(service, TEAM_A, "acme", now + HOUR)
    later = _pause(service, TEAM_B, None, now + 4 * HOUR)
    far = _pause(service, TEAM_A, "eurocorp", now + 30 * HOUR)
    moved = requests.post(f"{service.url}/_local/clock", json={"advance": "72h15m"}, timeout=60)
    assert moved.status_code == 200  # the first batch now expires in 45 minutes

    code, out, err = _cli(service, "at-risk", "--within", "1h")
    assert code == 0, err
    (row,) = [line for line in out.splitlines() if line.startswith(soon)]
    assert re.search(r"acme +global +arn:aws:iam::111122223333:user/team-a +4[45] min left", row), row
    assert later not in out and far not in out
    assert f"scheduled-sends --local {service.url} resume {soon} --account acme" in out

    code, out, _ = _cli(service, "at-risk", "--json")  # 6 h by default: the parent's batch too
    assert [b["batch_id"] for b in json.loads(out)["batches"]] == [soon, later]

    code, out, _ = _cli(service, "show", soon, "--account", "acme")
    assert code == 0 and "none -> pause" in out and TEAM_A in out

    code, _, err = _cli(service, "resume", soon, "--account", "acme")
    assert code == 2 and "--yes" in err  # no terminal here, no --yes: nothing done
    code, out, err = _cli(service, "resume", soon, "--account", "acme", "--yes")
    assert code == 0, err
    events = requests.get(
        f"{service.url}/_local/events", params={"batch_id": soon, "detail-type": "Scheduled Send Resumed"}, timeout=30
    ).json()
    (resumed,) = events
    assert resumed["detail"]["changed_by"] == DEFAULT_CALLER_ARN  # the operator, not the owning team
    code, out, _ = _cli(service, "at-risk", "--within", "1h")
    assert code == 0 and "No paused batch expires within 1 h." in out


def test_a_caller_who_is_no_admin_gets_exit_code_3(local_service: LocalService) -> None:
    code, _, err = _cli(local_service, "at-risk")
    assert code == 3 and "403" in err
