"""The local console's page, from its parts: time left in words, the slots from either source, and every value of
a caller's (a batch id, an owner) escaped."""

from __future__ import annotations

from local.console import (
    AccountSlots,
    ConsoleView,
    Slot,
    at_risk,
    render_console,
    slots_from_sendgrid,
    slots_from_table,
)


def _batch(batch_id: str, account: str, status: str, seconds_left: int | None, owner: str = "team") -> dict:
    return {"batch_id": batch_id, "account": account, "status": status, "seconds_left": seconds_left, "owner": owner}


def test_at_risk_is_paused_and_known_to_expire_within_six_hours_soonest_first() -> None:
    batches = [
        _batch("later", "acme", "pause", 5 * 3600),
        _batch("soon", "acme", "pause", 600),
        _batch("far", "acme", "pause", 7 * 3600),
        _batch("cancelled", "acme", "cancel", 60),
        _batch("unknown", "acme", "pause", None),
        _batch("past", "parent", "pause", -60),
    ]
    assert [b["batch_id"] for b in at_risk(batches)] == ["past", "soon", "later"]


def test_slots_come_from_sendgrid_with_owners_from_the_table_or_from_the_table_alone() -> None:
    from_sendgrid = slots_from_sendgrid(
        {"acme": {"b1": "pause", "b2": "cancel"}, "parent": {"b3": "pause"}, "empty": {}},
        {("acme", "b1"): "payments"},
        {"acme": "global", "parent": "global"},
    )
    assert from_sendgrid == [
        AccountSlots("parent", "global", (Slot("b3", "pause", None),)),
        AccountSlots("acme", "global", (Slot("b1", "pause", "payments"), Slot("b2", "cancel", None))),
    ]
    from_table = slots_from_table([_batch("b1", "acme", "pause", 60), _batch("b4", "acme", None, None)], {})
    assert from_table == [AccountSlots("acme", None, (Slot("b1", "pause", "team"),))]


def test_every_value_of_a_caller_is_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    view = ConsoleView(
        stack="local",
        now=0,
        at_risk=[],
        accounts=[AccountSlots(hostile, None, (Slot(hostile, "pause", hostile),))],
        slots_source="the SendGrid sandboxes",
        events=[{"time": "t", "detail-type": hostile, "detail": {"batch_id": hostile, "changed_by": hostile}}],
    )
    page = render_console(view, lambda batches, now, stack: "<p>at risk</p>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count('class="slot free"') == 9 and "<p>at risk</p>" in page
    assert '<meta http-equiv="refresh" content="5">' in page


def test_the_at_risk_table_is_the_dashboard_widgets_with_local_commands() -> None:
    from local.console import widget_section

    batch = {
        "batch_id": "b1",
        "account": "acme",
        "region": "global",
        "owner": "role/payments",
        "status": "pause",
        "expires_at": 3600 + 2820,
        "expires_at_basis": "send_at",
        "seconds_left": 2820,
        "expiry_action": None,
    }
    html = widget_section()([batch], 3600, "scheduled-sends-local")
    assert 'data-batch-id="b1"' in html and "47 min left" in html
    assert "scheduled-sends resume b1 --account acme --local" in html
