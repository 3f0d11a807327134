"""Global and EU subusers behind one deployment: every call goes to the host of its account's region (the
handlers and the scanner against two SendGrid sandboxes, one per host, each serving only its region)."""

from __future__ import annotations

import json

import boto3
import pytest
import requests

from local.events import LocalLambdaContext
from local.sendgrid_sandbox import SendGridSandbox
from scheduled_sends.adapters import event_bus as bus
from scheduled_sends.adapters.accounts import account_registry
from scheduled_sends.adapters.batches_table import batch_store
from scheduled_sends.adapters.sendgrid.subusers import RETRY_AFTER_SECONDS
from scheduled_sends.domain.scan_plan import RECLAIM_GRACE_SECONDS
from scheduled_sends.domain.send_windows import EXPIRY_SECONDS
from scheduled_sends.entry.scheduled import ScanIncomplete
from scheduled_sends.runtime.settings import settings
from tests.support import SCANNER_TIMEOUT_MS, error_of, invoke, load_handler

TEAM = "arn:aws:iam::111122223333:user/team-a"
HOUR = 3600
JSON = ("Content-Type", "application/json")
Sandboxes = dict[str, SendGridSandbox]


def _as(on_behalf_of: str | None) -> list[tuple[str, str]]:
    return [JSON] + ([("on-behalf-of", on_behalf_of)] if on_behalf_of else [])


def _on_behalf_of(sandbox: SendGridSandbox) -> list[str | None]:
    """Whom each call of the operations that reached this host acted for."""
    return [r.headers.get("on-behalf-of") for r in sandbox.api_requests]


def _create(on_behalf_of: str | None, **body) -> str:
    created = invoke("create_batch_id", body=body or None, headers=_as(on_behalf_of), caller_arn=TEAM)
    assert created["statusCode"] == 201, created
    return json.loads(created["body"])["batch_id"]


def _pause(on_behalf_of: str | None, batch: str, status: str = "pause") -> dict:
    return invoke(
        "pause_or_cancel", body={"batch_id": batch, "status": status}, headers=_as(on_behalf_of), caller_arn=TEAM
    )


def _scan() -> dict:
    return load_handler("expiry_scanner")(
        {"source": "aws.events"}, LocalLambdaContext("expiry_scanner", remaining_ms=SCANNER_TIMEOUT_MS)
    )


def _of_type(events: list[dict], detail_type: str) -> list[dict]:
    return [e["detail"] for e in events if e["detail-type"] == detail_type]


def test_each_account_is_served_at_its_regions_host_only(regional_sandboxes: Sandboxes, clock) -> None:
    for account in ("eurocorp", "acme", None, "account-id 4242"):
        batch = _create(account)
        assert _pause(account, batch)["statusCode"] == 201
        listed = invoke("list_scheduled_sends", headers=_as(account), caller_arn=TEAM)
        assert [e["batch_id"] for e in json.loads(listed["body"])] == [batch]

    assert regional_sandboxes["eu"].statuses("eurocorp")  # the EU subuser's pause is held in the EU
    assert _on_behalf_of(regional_sandboxes["eu"]) == ["eurocorp"] * 3
    assert set(_on_behalf_of(regional_sandboxes["global"])) == {"acme", None, "account-id 4242"}
    # The subuser list is read once, at the parent's (the stack's) host, with the parent's key and no on-behalf-of.
    (listing,) = regional_sandboxes["global"].subuser_list_requests
    assert "include_region=true" in listing.path and "on-behalf-of" not in listing.headers
    assert regional_sandboxes["eu"].subuser_list_requests == []


def test_the_subuser_list_is_read_once_per_refresh_period(
    regional_sandboxes: Sandboxes, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUBUSER_REGION_REFRESH_SECONDS", "600")
    world = regional_sandboxes["global"]
    for _ in range(3):
        for account in ("eurocorp", "acme"):
            assert invoke("list_scheduled_sends", headers=_as(account), caller_arn=TEAM)["statusCode"] == 200
    assert len(world.subuser_list_requests) == 1
    clock.now += 599
    invoke("list_scheduled_sends", headers=_as("eurocorp"), caller_arn=TEAM)
    assert len(world.subuser_list_requests) == 1
    clock.now += 1
    invoke("list_scheduled_sends", headers=_as("eurocorp"), caller_arn=TEAM)
    invoke("list_scheduled_sends", headers=_as("acme"), caller_arn=TEAM)
    assert len(world.subuser_list_requests) == 2
    assert _on_behalf_of(regional_sandboxes["eu"]) == ["eurocorp"] * 5


def test_a_subuser_created_after_the_list_was_read_is_looked_up_once_by_name(
    regional_sandboxes: Sandboxes, clock
) -> None:
    invoke("list_scheduled_sends", headers=_as("acme"), caller_arn=TEAM)
    for sandbox in regional_sandboxes.values():  # created at SendGrid, as an EU subuser
        sandbox.subusers["newco"] = "eu"
    for _ in range(3):
        assert invoke("list_scheduled_sends", headers=_as("newco"), caller_arn=TEAM)["statusCode"] == 200
    paths = [r.path for r in regional_sandboxes["global"].subuser_list_requests]
    assert len(paths) == 2 and "username=newco" in paths[1]
    assert _on_behalf_of(regional_sandboxes["eu"]) == ["newco"] * 3


def test_a_subuser_sendgrid_does_not_list_is_the_callers_mistake_and_nothing_is_forwarded(
    regional_sandboxes: Sandboxes, clock
) -> None:
    answer = invoke("create_batch_id", headers=_as("ghost"), caller_arn=TEAM)
    assert answer["statusCode"] == 400
    assert "Retry-After" not in answer["headers"]  # retrying the same name cannot help
    error = error_of(answer)
    assert error["field"] == "on-behalf-of"
    assert "'ghost'" in error["message"] and "nothing was sent to SendGrid" in error["message"]
    assert "subuser list for the parent account" in error["message"]  # the authority it was checked against
    assert invoke("list_scheduled_sends", headers=_as("ghost"), caller_arn=TEAM)["statusCode"] == 400
    assert regional_sandboxes["global"].api_requests == [] and regional_sandboxes["eu"].api_requests == []
    # One read of the list, one look-up by name; the answer is remembered, so a stream of requests does not
    # become a stream of look-ups.
    assert len(regional_sandboxes["global"].subuser_list_requests) == 2
    clock.now += RETRY_AFTER_SECONDS
    assert invoke("list_scheduled_sends", headers=_as("ghost"), caller_arn=TEAM)["statusCode"] == 400
    assert len(regional_sandboxes["global"].subuser_list_requests) == 3


def test_when_the_subuser_list_fails_the_region_is_not_guessed(regional_sandboxes: Sandboxes, clock) -> None:
    world = regional_sandboxes["global"]
    world.inject("500", times=100, paths=("/v3/subusers",))
    answer = invoke("list_scheduled_sends", headers=_as("eurocorp"), caller_arn=TEAM)
    assert answer["statusCode"] == 503
    assert "subuser list could not be read" in error_of(answer)["message"]
    assert world.api_requests == [] and regional_sandboxes["eu"].api_requests == []
    attempts = len(world.subuser_list_requests)
    assert invoke("list_scheduled_sends", headers=_as("eurocorp"), caller_arn=TEAM)["statusCode"] == 503
    assert len(world.subuser_list_requests) == attempts  # a failed read is not repeated at once
    # The parent needs no list.
    assert invoke("list_scheduled_sends", headers=_as(None), caller_arn=TEAM)["statusCode"] == 200

    world.clear_faults()
    clock.now += RETRY_AFTER_SECONDS
    assert invoke("list_scheduled_sends", headers=_as("eurocorp"), caller_arn=TEAM)["statusCode"] == 200
    assert _on_behalf_of(regional_sandboxes["eu"]) == ["eurocorp"]


def test_a_known_subuser_keeps_its_region_while_the_list_cannot_be_read(
    regional_sandboxes: Sandboxes, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUBUSER_REGION_REFRESH_SECONDS", "60")
    assert invoke("list_scheduled_sends", headers=_as("eurocorp"), caller_arn=TEAM)["statusCode"] == 200
    regional_sandboxes["global"].inject("503", times=100, paths=("/v3/subusers",))
    clock.now += 3600  # the list is due for a refresh, which fails: a subuser's region never changes
    assert invoke("list_scheduled_sends", headers=_as("eurocorp"), caller_arn=TEAM)["statusCode"] == 200
    assert invoke("list_scheduled_sends", headers=_as("newco"), caller_arn=TEAM)["statusCode"] == 503  # never known
    assert _on_behalf_of(regional_sandboxes["eu"]) == ["eurocorp", "eurocorp"]


def test_pins_win_over_sendgrids_list_and_a_star_pin_never_reads_it(
    regional_sandboxes: Sandboxes, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EU_SUBUSERS", "eurocorp, account-id 7")
    monkeypatch.setenv("GLOBAL_SUBUSERS", "*")
    for sandbox in regional_sandboxes.values():
        sandbox.subusers["account-id 7"] = "eu"  # a customer account that lives in the EU
    for account in ("eurocorp", "account-id 7", "acme", "account-id 8"):
        assert invoke("list_scheduled_sends", headers=_as(account), caller_arn=TEAM)["statusCode"] == 200
    assert _on_behalf_of(regional_sandboxes["eu"]) == ["eurocorp", "account-id 7"]
    assert _on_behalf_of(regional_sandboxes["global"]) == ["acme", "account-id 8"]
    assert regional_sandboxes["global"].subuser_list_requests == []


def test_a_pin_against_sendgrids_region_sends_the_call_where_the_operator_said(
    regional_sandboxes: Sandboxes, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOBAL_SUBUSERS", "eurocorp")  # wrong: the global host refuses it, loudly
    answer = invoke("list_scheduled_sends", headers=_as("eurocorp"), caller_arn=TEAM)
    assert answer["statusCode"] == 502  # SendGrid refused: reported as the operators' problem
    assert regional_sandboxes["eu"].requests == []


def test_a_key_per_region_from_a_json_secret(
    regional_sandboxes: Sandboxes, secret_arn: str, api_key: str, clock
) -> None:
    regional_sandboxes["global"].api_key = "SG.global-only-key"
    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"global": "SG.global-only-key", "eu": api_key})
    )
    for account in ("eurocorp", "acme", None):
        assert invoke("list_scheduled_sends", headers=_as(account), caller_arn=TEAM)["statusCode"] == 200
    assert {r.headers["Authorization"] for r in regional_sandboxes["eu"].requests} == {f"Bearer {api_key}"}
    assert {r.headers["Authorization"] for r in regional_sandboxes["global"].requests} == {"Bearer SG.global-only-key"}


def test_a_json_secret_without_the_eu_key_fails_only_eu_calls_and_shows_no_key(
    regional_sandboxes: Sandboxes, secret_arn: str, api_key: str, clock
) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=json.dumps({"global": api_key}))
    assert invoke("list_scheduled_sends", headers=_as("acme"), caller_arn=TEAM)["statusCode"] == 200
    refused = invoke("list_scheduled_sends", headers=_as("eurocorp"), caller_arn=TEAM)
    assert refused["statusCode"] == 500
    assert "no key for the eu region" in error_of(refused)["message"]
    assert regional_sandboxes["eu"].requests == []


# -- the scanner ---------------------------------------------------------------------------------------


def _paused(on_behalf_of: str, clock, **extra) -> tuple[str, int]:
    send_at = clock.now + HOUR
    batch = _create(on_behalf_of, send_at=send_at, last_send_at=send_at, **extra)
    assert _pause(on_behalf_of, batch)["statusCode"] == 201
    return batch, send_at


@pytest.mark.parametrize("action", ["resume", "cancel"])
def test_expiry_actions_for_an_eu_subuser_go_to_the_eu_host_only(
    regional_sandboxes: Sandboxes, clock, published_events, action: str
) -> None:
    eu_batch, send_at = _paused("eurocorp", clock, expiry_action=action)
    global_batch, _ = _paused("acme", clock, expiry_action=action)
    clock.now = send_at + EXPIRY_SECONDS - 30 * 60
    assert _scan()["actioned"] == 2

    expected = {} if action == "resume" else {eu_batch: "cancel"}
    assert regional_sandboxes["eu"].statuses("eurocorp") == expected
    taken = {t["batch_id"]: t for t in _of_type(published_events(), bus.EXPIRY_ACTION_TAKEN)}
    assert (taken[eu_batch]["region"], taken[global_batch]["region"]) == ("eu", "global")
    assert "eurocorp" not in _on_behalf_of(regional_sandboxes["global"])
    assert set(_on_behalf_of(regional_sandboxes["eu"])) == {"eurocorp"}
    assert set(_on_behalf_of(regional_sandboxes["global"])) == {"acme"}


def test_warnings_expiry_and_reclaim_of_an_eu_subusers_batch_stay_in_the_eu(
    regional_sandboxes: Sandboxes, clock, published_events
) -> None:
    _, send_at = _paused("eurocorp", clock)
    cancelled = _create("eurocorp", send_at=send_at, last_send_at=send_at)
    assert _pause("eurocorp", cancelled, "cancel")["statusCode"] == 201
    clock.now = send_at + EXPIRY_SECONDS - 23 * HOUR
    assert _scan()["reclaimed"] == 1  # the cancelled batch, long past send_at
    clock.now = send_at + EXPIRY_SECONDS + RECLAIM_GRACE_SECONDS
    summary = _scan()

    assert (summary["expired"], summary["reclaimed"]) == (1, 1)
    assert regional_sandboxes["eu"].statuses("eurocorp") == {}
    events = published_events()
    regions = {e["detail-type"]: {e["detail"]["region"]} for e in events}
    assert regions == {
        bus.PAUSED: {"eu"},  # the changes made through the API say where they were made too
        bus.CANCELLED: {"eu"},
        bus.EXPIRY_WARNING: {"eu"},
        bus.EXPIRED: {"eu"},
        bus.SLOT_RECLAIMED: {"eu"},
    }
    assert _on_behalf_of(regional_sandboxes["global"]) == []


def test_reconcile_reads_each_accounts_list_at_its_own_host(
    regional_sandboxes: Sandboxes, clock, published_events, api_key: str, json_logs
) -> None:
    _create("eurocorp")
    _create("acme")
    eu = regional_sandboxes["eu"].url
    headers = {"Authorization": f"Bearer {api_key}", "on-behalf-of": "eurocorp"}
    stray = requests.post(f"{eu}/v3/mail/batch", headers=headers, timeout=5).json()["batch_id"]
    requests.post(f"{eu}/v3/user/scheduled_sends", headers=headers, json={"batch_id": stray, "status": "pause"})

    assert _scan()["drift"] == 1

    (drift,) = _of_type(published_events(), bus.DRIFT)
    assert (drift["on_behalf_of"], drift["region"], drift["batch_id"]) == ("eurocorp", "eu", stray)
    assert batch_store().get("sub:eurocorp", stray).status == "pause"
    assert "eurocorp" not in _on_behalf_of(regional_sandboxes["global"])
    assert "acme" not in _on_behalf_of(regional_sandboxes["eu"])
    (line,) = [json.loads(x) for x in json_logs.getvalue().splitlines() if '"scan finished"' in x]
    assert line["regions"] == {"sub:eurocorp": "eu", "sub:acme": "global"}
    assert line["version"] == "9.8.7-test"  # the release the template set (SERVICE_VERSION)


def test_an_account_whose_region_cannot_be_known_fails_for_the_run_and_the_others_go_on(
    regional_sandboxes: Sandboxes, clock, published_events
) -> None:
    for sandbox in regional_sandboxes.values():
        sandbox.subusers["leaver"] = "eu"
    batch, send_at = _paused("leaver", clock, expiry_action="resume")
    eu_batch, _ = _paused("eurocorp", clock, expiry_action="resume")
    for sandbox in regional_sandboxes.values():  # the subuser is deleted at SendGrid
        del sandbox.subusers["leaver"]
    clock.now = send_at + EXPIRY_SECONDS - 30 * 60  # both due; the list is read again

    # Its action fails; its reconcile does not count: SendGrid no longer knows the account (set aside).
    with pytest.raises(ScanIncomplete, match="1 batches or accounts failed"):
        _scan()

    assert regional_sandboxes["eu"].statuses("leaver") == {batch: "pause"}  # nothing was sent for it
    assert regional_sandboxes["eu"].statuses("eurocorp") == {}  # the other account's resume went out
    assert [t["batch_id"] for t in _of_type(published_events(), bus.EXPIRY_ACTION_TAKEN)] == [eu_batch]
    assert batch_store().get("sub:leaver", batch).action_taken is None  # released: the next run tries again


def test_the_whole_list_is_read_page_by_page(regional_sandboxes: Sandboxes, clock) -> None:
    many = {f"sub-{i:03}": ("eu" if i % 2 else "global") for i in range(250)}
    for sandbox in regional_sandboxes.values():
        sandbox.subusers.update(many)
    for name in ("sub-249", "sub-000", "eurocorp"):
        assert invoke("list_scheduled_sends", headers=_as(name), caller_arn=TEAM)["statusCode"] == 200
    paths = [r.path for r in regional_sandboxes["global"].subuser_list_requests]
    assert [p.split("offset=")[1] for p in paths] == ["0", "100", "200"]  # 252 subusers, pages of 100
    assert _on_behalf_of(regional_sandboxes["eu"]) == ["sub-249", "eurocorp"]
    assert _on_behalf_of(regional_sandboxes["global"]) == ["sub-000"]


def test_an_idempotent_create_refused_for_an_unknown_region_can_be_retried_with_the_same_key(
    regional_sandboxes: Sandboxes, clock
) -> None:
    headers = [*_as("newco"), ("Idempotency-Key", "create-1")]
    refused = invoke("create_batch_id", headers=headers, caller_arn=TEAM)
    assert refused["statusCode"] == 400
    for sandbox in regional_sandboxes.values():
        sandbox.subusers["newco"] = "eu"
    clock.now += RETRY_AFTER_SECONDS
    created = invoke("create_batch_id", headers=headers, caller_arn=TEAM)
    assert created["statusCode"] == 201
    assert invoke("create_batch_id", headers=headers, caller_arn=TEAM)["body"] == created["body"]
    assert _on_behalf_of(regional_sandboxes["eu"]) == ["newco"]


# -- accounts SendGrid does not know ---------------------------------------------------------------------

# A typo'd subuser: SendGrid's list does not name it (400), or, with a "*" pin, the host refuses it (403, a 502).
UNKNOWN_TO_SENDGRID = pytest.mark.parametrize(
    ("pin_every_subuser", "refused_with"), [(False, 400), (True, 502)], ids=["not-listed", "host-refuses"]
)


@UNKNOWN_TO_SENDGRID
def test_a_request_for_an_account_sendgrid_does_not_know_registers_nothing(
    regional_sandboxes: Sandboxes, clock, monkeypatch: pytest.MonkeyPatch, pin_every_subuser: bool, refused_with: int
) -> None:
    if pin_every_subuser:
        monkeypatch.setenv("GLOBAL_SUBUSERS", "*")
    answer = invoke("list_scheduled_sends", headers=_as("no-such-subuser"), caller_arn=TEAM)
    assert answer["statusCode"] == refused_with
    assert invoke("list_scheduled_sends", headers=_as("acme"), caller_arn=TEAM)["statusCode"] == 200
    assert account_registry().all() == ["sub:acme"]  # only the account SendGrid served


@UNKNOWN_TO_SENDGRID
def test_a_registered_account_sendgrid_does_not_know_is_set_aside_and_the_run_succeeds(
    regional_sandboxes: Sandboxes,
    clock,
    monkeypatch: pytest.MonkeyPatch,
    json_logs,
    pin_every_subuser: bool,
    refused_with: int,
) -> None:
    if pin_every_subuser:
        monkeypatch.setenv("GLOBAL_SUBUSERS", "*")
    account_registry().remember("sub:no-such-subuser")  # left by an older version, or a subuser deleted since
    _create("acme")

    summary = _scan()  # no ScanIncomplete: the run is not failed (nor retried into the DLQ) for it

    assert (summary["errors"], summary["unreconcilable"], summary["reconciled"]) == (0, 1, 1)
    idle = settings().reconcile_idle_seconds
    assert "sub:no-such-subuser" not in account_registry().due(clock.now + idle - 1)
    assert "sub:no-such-subuser" in account_registry().due(clock.now + idle)
    (line,) = [json.loads(x) for x in json_logs.getvalue().splitlines() if "account not reconcilable" in x]
    assert (line["level"], line["account"]) == ("WARNING", "sub:no-such-subuser")


@pytest.mark.parametrize("failure", ["list-answers-500", "subuser-list-unreadable"])
def test_a_passing_failure_to_reconcile_an_account_still_fails_the_run(
    regional_sandboxes: Sandboxes, clock, failure: str
) -> None:
    account_registry().remember("sub:eurocorp")  # a real subuser, whose region no call has looked up yet
    if failure == "list-answers-500":
        regional_sandboxes["eu"].inject("500", times=100, paths=("/v3/user/scheduled_sends",))
    else:
        regional_sandboxes["global"].inject("500", times=100, paths=("/v3/subusers",))

    with pytest.raises(ScanIncomplete, match="1 batches or accounts failed"):
        _scan()
    assert "sub:eurocorp" in account_registry().due(clock.now)  # not set aside: the next run tries again


# -- registered before forwarded -------------------------------------------------------------------------


@pytest.mark.usefixtures("as_admin")
def test_a_pause_whose_answer_is_lost_still_leaves_its_account_watched(
    regional_sandboxes: Sandboxes, clock, api_key: str
) -> None:
    """An admin's first act in an account the service has never served: a pause SendGrid applies but whose
    answers are all lost (the caller gets 504). The account was registered before the pause was forwarded, so
    the next reconcile lists it and records the pause."""
    world = regional_sandboxes["global"]
    headers = {"Authorization": f"Bearer {api_key}", "on-behalf-of": "acme"}
    batch = requests.post(f"{world.url}/v3/mail/batch", headers=headers, timeout=5).json()["batch_id"]
    assert account_registry().all() == []
    world.inject("slow", times=100, delay_seconds=60.0, paths=("/v3/user/scheduled_sends",))

    lost = _pause("acme", batch)

    assert lost["statusCode"] == 504
    assert world.statuses("acme") == {batch: "pause"}  # applied at SendGrid; the answer never arrived
    assert account_registry().all() == ["sub:acme"]
    unrecorded = batch_store().get("sub:acme", batch)  # the change's hold only, released: no status recorded
    assert unrecorded is None or (unrecorded.status, unrecorded.owner, unrecorded.lease_owner) == (None, None, None)
    world.clear_faults()
    clock.now += 60
    _scan()
    assert batch_store().get("sub:acme", batch).status == "pause"


@pytest.mark.usefixtures("as_admin")  # an admin may act on a batch the service never saw: SendGrid's list decides
def test_a_name_sendgrid_does_not_list_is_refused_before_registration(regional_sandboxes: Sandboxes, clock) -> None:
    assert _pause("no-such-subuser", "a" * 22)["statusCode"] == 400
    assert account_registry().all() == []
    assert regional_sandboxes["global"].api_requests == []
