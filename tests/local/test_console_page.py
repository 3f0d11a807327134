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
    time_left_text,
)


def test_time_left_reads_as_a_person_says_it() -> None:
    assert [time_left_text(s) for s in (2820, 18720, 183600, 30, 0, -240, None)] == [
        "47 min left",
        "5 h 12 min left",
        "2 d 3 h left",
        "under a minute left",
        "0 min left",
        "expired 4 min ago",
        "unknown",
    ]


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


def test_the_at_risk_table_is_the_dashboard_widgets_when_the_layer_has_it(monkeypatch) -> None:
    import importlib.machinery
    import sys
    import types

    from local.console import WIDGET_MODULE, widget_section

    if importlib.util.find_spec(WIDGET_MODULE) is None:
        assert widget_section() is None  # the console's own table until the layer has the widget
    calls = []
    widget = types.ModuleType(WIDGET_MODULE)
    widget.__spec__ = importlib.machinery.ModuleSpec(WIDGET_MODULE, None)
    widget.render_at_risk_html = lambda batches, now, stack, *, target=None: calls.append(target) or "<table/>"
    monkeypatch.setitem(sys.modules, WIDGET_MODULE, widget)
    section = widget_section()
    assert section is not None and section([], 0, "local") == "<table/>"
    assert calls == ["--local"]  # its resume commands name the local server
