"""The on-call view's rules: ISO times, the time left in words, durations, statuses and accounts as callers write
them, the listing's one total order, the page token bound to its query, and the at-risk page's HTML."""

from __future__ import annotations

import re

import pytest

from scheduled_sends.app.at_risk_page import render_at_risk_html, resume_command
from scheduled_sends.domain import ops_view
from scheduled_sends.domain.batch import Batch
from scheduled_sends.domain.changes import Change
from scheduled_sends.domain.errors import BadRequest

NOW = 1_796_421_428  # 2026-12-04T21:57:08Z


def test_iso_is_utc_with_a_z() -> None:
    assert ops_view.iso(NOW) == "2026-12-04T21:57:08Z"
    assert ops_view.iso(None) is None
    assert ops_view.with_iso({"a": 0, "b": None}, "a", "b") == {"a": 0, "b": None, "a_iso": "1970-01-01T00:00:00Z",
                                                                  "b_iso": None}  # fmt: skip


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(47 * 60 + 59, "47 min left"), (30, "30 s left"), (3600, "1 h left"), (5 * 3600 + 12 * 60, "5 h 12 min left"),
     (2 * 86400 + 3 * 3600 + 59, "2 d 3 h left"), (86400, "1 d left"), (-180, "expiry passed 3 min ago"),
     (None, "expiry unknown")],
)  # fmt: skip
def test_time_left_reads_as_a_person_says_it(seconds: int | None, text: str) -> None:
    assert ops_view.time_left_text(seconds) == text


@pytest.mark.parametrize(("text", "seconds"), [("3600", 3600), ("90m", 5400), ("1h", 3600), ("2d", 172800), ("5s", 5)])
def test_durations_are_seconds_or_a_number_with_a_unit(text: str, seconds: int) -> None:
    assert ops_view.parse_duration(text, "expires_within") == seconds


@pytest.mark.parametrize("text", ["", "1 h", " 1h", "1w", "-5", "1.5h", "h", "1234567890"])
def test_other_durations_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(BadRequest) as refused:
        ops_view.parse_duration(text, "expires_within")
    assert refused.value.field == "expires_within"


def test_statuses_limits_and_accounts_are_parsed_as_the_contract_says() -> None:
    assert ops_view.parse_statuses(None) == ops_view.LISTED_STATUSES
    assert ops_view.parse_statuses("pause,cancel,pause") == ("pause", "cancel")
    assert ops_view.parse_limit(None) == 50 and ops_view.parse_limit("100") == 100
    assert ops_view.account_of("parent") == "parent"
    assert ops_view.account_of("acme") == "sub:acme"
    assert ops_view.account_of("account-id 42") == "sub:account-id 42"
    assert ops_view.account_of(None) is None
    for bad in (lambda: ops_view.parse_statuses(""), lambda: ops_view.parse_statuses("paused"),
                lambda: ops_view.parse_limit("0"), lambda: ops_view.parse_limit("1e2"),
                lambda: ops_view.account_of("a,b"), lambda: ops_view.account_of("")):  # fmt: skip
        with pytest.raises(BadRequest):
            bad()
    assert ops_view.account_name("sub:account-id 42") == "account-id 42" and ops_view.account_name("parent") == "parent"


def test_the_listing_order_is_soonest_expiry_first_unknown_last_and_total() -> None:
    keys = [
        ops_view.expiry_order(None, "parent", "a"),
        ops_view.expiry_order(NOW + 10, "sub:b", "x"),
        ops_view.expiry_order(NOW + 10, "parent", "x"),
        ops_view.expiry_order(999, "parent", "z"),  # an expiry long past still sorts by its time
    ]
    assert sorted(keys) == [keys[3], keys[2], keys[1], keys[0]]
    assert len(set(keys)) == len(keys)
    assert ops_view.expiry_order(NOW, "parent", "x") <= ops_view.expiry_upper_bound(NOW)
    assert ops_view.expiry_order(NOW + 1, "parent", "x") > ops_view.expiry_upper_bound(NOW)
    assert ops_view.expiry_order(None, "sub:~~~", "x") > ops_view.expiry_upper_bound(10**10 - 1)


def test_a_page_token_is_opaque_and_bound_to_its_query() -> None:
    position = ops_view.expiry_order(NOW, "sub:acme", "batch-1")
    token = ops_view.encode_token(position, "query-a")
    assert "acme" not in token and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert ops_view.decode_token(token, "query-a") == position
    assert ops_view.decode_token(None, "query-a") is None
    for bad, fingerprint in ((token, "query-b"), ("not-a-token", "query-a"), (token[:-3], "query-a")):
        with pytest.raises(BadRequest) as refused:
            ops_view.decode_token(bad, fingerprint)
        assert refused.value.field == "next_token"
    forged = ops_view.encode_token("not a position", "query-a")
    with pytest.raises(BadRequest):
        ops_view.decode_token(forged, "query-a")


def _batch(**fields) -> Batch:
    return Batch(**{"account": "sub:acme", "batch_id": "b-1", "owner": "arn:aws:iam::1:role/team", **fields})


def test_a_batch_view_has_every_field_of_the_contract_with_iso_times() -> None:
    view = ops_view.batch_view(_batch(status="pause", send_at=NOW, updated_at=NOW), NOW + 60, "eu")
    assert view["account"] == "acme" and view["on_behalf_of"] == "acme" and view["region"] == "eu"
    assert view["expires_at"] == NOW + 72 * 3600 and view["expires_at_basis"] == "send_at"
    assert view["seconds_left"] == 72 * 3600 - 60
    assert view["send_at_iso"] == "2026-12-04T21:57:08Z" and view["last_send_at_iso"] is None
    parent = ops_view.batch_view(_batch(account="parent", status=None), NOW, "global")
    assert parent["on_behalf_of"] is None and parent["status"] == "none" and parent["seconds_left"] is None


def test_history_is_shown_newest_first_with_iso_times() -> None:
    change = Change("e1", "Scheduled Send Paused", "arn:r", "arn:s", "req", NOW, None, "pause", "arn:r", "acme", "eu")
    (entry,) = ops_view.history_view([change])
    assert entry == {
        "changed_by": "arn:r", "caller": "arn:s", "changed_at": NOW, "changed_at_iso": "2026-12-04T21:57:08Z",
        "previous_status": "none", "status": "pause", "detail_type": "Scheduled Send Paused", "request_id": "req",
        "event_id": "e1",
    }  # fmt: skip


def _row(batch_id: str, account: str, left: int | None, action: str | None = None) -> dict:
    return {
        "batch_id": batch_id,
        "account": account,
        "region": "eu",
        "owner": "arn:aws:iam::1:role/team-<a>",
        "expires_at": None if left is None else NOW + left,
        "expires_at_basis": "earliest_possible",
        "seconds_left": left,
        "expiry_action": action,
    }


def test_the_at_risk_page_shows_each_batch_with_its_time_left_and_resume_command() -> None:
    rows = [_row("b-1", "account-id 42", 47 * 60), _row("b-2", "parent", 5 * 3600, "cancel")]
    page = render_at_risk_html(rows, NOW, "prod-sends")
    assert page.index("b-1") < page.index("b-2")  # as given: soonest first
    assert "47 min left" in page and "5 h left" in page
    assert "scheduled-sends resume b-1 --account &#x27;account-id 42&#x27; --stack prod-sends" in page
    assert "scheduled-sends resume b-2 --account parent --stack prod-sends" in page
    assert "team-&lt;a&gt;" in page and "<a>" not in page  # every value is escaped
    assert page.count('class="urgent"') == 1 and "(earliest possible)" in page and ">cancel<" in page
    assert "Paused batches at risk at 2026-12-04T21:57:08Z (UTC): 2" in page


def test_the_at_risk_page_says_so_when_nothing_is_at_risk_and_the_console_can_point_at_local() -> None:
    assert "No paused batch expires" in render_at_risk_html([], NOW, "prod-sends")
    command = resume_command(_row("b-1", "acme", 60), "ignored", target="--local")
    assert command == "scheduled-sends resume b-1 --account acme --local"


def test_a_rows_history_keeps_the_newest_changes_up_to_its_bound() -> None:
    from dataclasses import replace

    from scheduled_sends.adapters.batches_table import _history_after

    row = _batch(status="pause")
    for number in range(ops_view.HISTORY_LIMIT + 5):
        change = Change(f"e{number}", "Scheduled Send Paused", "r", "s", f"q{number}", NOW + number, None, "pause",
                        "r", "acme", "eu")  # fmt: skip
        new = replace(row, change=change)
        row = replace(new, history=_history_after(new, row))
    assert len(row.history) == ops_view.HISTORY_LIMIT
    assert [c.event_id for c in row.history[:2]] == [f"e{ops_view.HISTORY_LIMIT + 4}", f"e{ops_view.HISTORY_LIMIT + 3}"]
    assert _history_after(row, row) == row.history  # a write that announces nothing keeps the history as it is
