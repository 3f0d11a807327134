"""The sandbox's clock and mail: what SendGrid does to a scheduled mail, by the status of its batch."""

from __future__ import annotations

import pytest
import requests

from local.sendgrid_sandbox import EXPIRY_SECONDS, SendGridSandbox

KEY = "SG.sandbox-mail-test"
T0 = 1_800_000_000
HOUR = 3600


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def sandbox() -> SendGridSandbox:
    box = SendGridSandbox(KEY, clock=_Clock()).start()
    yield box
    box.stop()


def _call(box: SendGridSandbox, method: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.request(method, box.url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=5)


def _batch(box: SendGridSandbox) -> str:
    return _call(box, "POST", "/v3/mail/batch").json()["batch_id"]


def _mail(box: SendGridSandbox, batch: str, send_at: int) -> None:
    answer = _call(box, "POST", "/v3/mail/send", {"batch_id": batch, "send_at": send_at, "subject": "x"})
    assert (answer.status_code, answer.content) == (202, b"")


def _fates(box: SendGridSandbox) -> list[tuple[str, int | None]]:
    return [(m.fate, m.decided_at) for m in box.mails()]


def test_a_mail_without_a_status_is_delivered_at_send_at(sandbox: SendGridSandbox) -> None:
    _mail(sandbox, _batch(sandbox), T0 + HOUR)
    assert _fates(sandbox) == [("scheduled", None)]
    sandbox.clock.now = T0 + HOUR
    assert _fates(sandbox) == [("delivered", T0 + HOUR)]


def test_a_cancelled_batch_is_discarded_at_send_at(sandbox: SendGridSandbox) -> None:
    batch = _batch(sandbox)
    _mail(sandbox, batch, T0 + HOUR)
    assert _call(sandbox, "POST", "/v3/user/scheduled_sends", {"batch_id": batch, "status": "cancel"}).ok
    sandbox.clock.now = T0 + 2 * HOUR
    assert _fates(sandbox) == [("discarded", T0 + HOUR)]
    assert _call(sandbox, "DELETE", f"/v3/user/scheduled_sends/{batch}").status_code == 204
    assert _fates(sandbox) == [("discarded", T0 + HOUR)]  # deleting the cancel later brings nothing back


def test_a_paused_mail_is_held_then_delivered_when_the_pause_is_deleted(sandbox: SendGridSandbox) -> None:
    batch = _batch(sandbox)
    _mail(sandbox, batch, T0 + HOUR)
    _call(sandbox, "POST", "/v3/user/scheduled_sends", {"batch_id": batch, "status": "pause"})
    sandbox.clock.now = T0 + 10 * HOUR
    assert [m.held for m in sandbox.mails()] == [True]
    assert _fates(sandbox) == [("scheduled", None)]
    assert _call(sandbox, "DELETE", f"/v3/user/scheduled_sends/{batch}").status_code == 204
    assert _fates(sandbox) == [("delivered", T0 + 10 * HOUR)]


def test_a_held_mail_changed_to_cancel_is_discarded_and_one_left_paused_expires(sandbox: SendGridSandbox) -> None:
    cancelled, left = _batch(sandbox), _batch(sandbox)
    for batch in (cancelled, left):
        _mail(sandbox, batch, T0 + HOUR)
        _call(sandbox, "POST", "/v3/user/scheduled_sends", {"batch_id": batch, "status": "pause"})
    sandbox.clock.now = T0 + 2 * HOUR
    assert _call(sandbox, "PATCH", f"/v3/user/scheduled_sends/{cancelled}", {"status": "cancel"}).status_code == 204
    sandbox.clock.now = T0 + HOUR + EXPIRY_SECONDS
    assert sorted(_fates(sandbox)) == [("discarded", T0 + 2 * HOUR), ("expired", T0 + HOUR + EXPIRY_SECONDS)]
    assert _call(sandbox, "DELETE", f"/v3/user/scheduled_sends/{left}").status_code == 204
    assert ("expired", T0 + HOUR + EXPIRY_SECONDS) in _fates(sandbox)  # too late: nothing is delivered


def test_one_batch_may_group_mails_at_several_times(sandbox: SendGridSandbox) -> None:
    batch = _batch(sandbox)
    _mail(sandbox, batch, T0 + HOUR)
    _mail(sandbox, batch, T0 + 48 * HOUR)
    _call(sandbox, "POST", "/v3/user/scheduled_sends", {"batch_id": batch, "status": "cancel"})
    sandbox.clock.now = T0 + 2 * HOUR
    _call(sandbox, "DELETE", f"/v3/user/scheduled_sends/{batch}")  # deleting the cancel after the first send_at
    sandbox.clock.now = T0 + 49 * HOUR
    assert _fates(sandbox) == [("discarded", T0 + HOUR), ("delivered", T0 + 48 * HOUR)]


def test_mail_send_refuses_what_sendgrid_refuses_and_the_mails_are_listed_over_http(sandbox: SendGridSandbox) -> None:
    assert _call(sandbox, "POST", "/v3/mail/send", {"batch_id": "never-issued", "send_at": T0}).status_code == 400
    too_far = {"batch_id": _batch(sandbox), "send_at": T0 + 73 * HOUR}
    assert _call(sandbox, "POST", "/v3/mail/send", too_far).status_code == 400
    _mail(sandbox, too_far["batch_id"], T0)
    listed = requests.get(sandbox.url + "/sandbox/mails", timeout=5).json()
    assert listed["now"] == T0
    assert [(m["batch_id"], m["fate"]) for m in listed["mails"]] == [(too_far["batch_id"], "delivered")]
