"""The local console (`GET /_local/console`): one page, refreshing itself, with what an operator of the local stack
looks for - the paused batches at risk, each account's ten SendGrid slots and who holds them, the latest events.

`read_console` gathers the picture from the local stack (its table, its SendGrid sandboxes, its bus tap);
`render_console` turns it into HTML. The at-risk section is a function handed in (`AtRiskSection`): the
dashboard's custom widget renderer (`widget_section`), so the page shows the widget's own table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape
from typing import Any

CONSOLE_PATH = "/_local/console"
REFRESH_SECONDS = 5
SLOTS_PER_ACCOUNT = 10  # SendGrid's limit of paused or cancelled batches per account
LATEST_EVENTS = 20

# (batches at risk, soonest first; now; stack name) -> an HTML fragment
AtRiskSection = Callable[[list[dict[str, Any]], int, str], str]


@dataclass(frozen=True)
class Slot:
    """One of an account's SendGrid slots, taken by a paused or cancelled batch."""

    batch_id: str
    status: str
    owner: str | None


@dataclass(frozen=True)
class AccountSlots:
    account: str  # as a caller writes on-behalf-of; "parent" for the parent account
    region: str | None
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class ConsoleView:
    """Everything the page shows, read at one moment of the local stack's clock."""

    stack: str
    now: int
    at_risk: list[dict[str, Any]]
    accounts: list[AccountSlots]
    slots_source: str  # where the slots were read: "the SendGrid sandboxes" or "the batches table"
    events: list[dict[str, Any]] = field(default_factory=list)  # newest first


# -- from the table's rows ----------------------------------------------------------------------------------------
def batch_view(item: dict[str, Any], now: int, region_of: Callable[[str], str | None]) -> dict[str, Any]:
    """A row of the batches table as the admin routes and the dashboard widget show a batch (the layer's view and
    region rule): who, where, status and how long is left. `region_of` takes an account as a caller names it."""
    from scheduled_sends.adapters.batches_table import batch_from_item  # the layer, installed with the runner
    from scheduled_sends.app.ops_queries import region_for
    from scheduled_sends.domain import ops_view

    batch = batch_from_item(item)
    return ops_view.batch_view(batch, now, region_for(batch, lambda on_behalf_of: region_of(on_behalf_of or "parent")))


def at_risk(batches: Iterable[dict[str, Any]], within: int | None = None) -> list[dict[str, Any]]:
    """Paused batches whose expiry is known and within `within` seconds (or past), soonest first: the rule of
    the layer's `ops_queries.at_risk` (the widget's index query, its horizon by default) applied to the rows the
    console already read for the slots."""
    from scheduled_sends.app.ops_queries import AT_RISK_WITHIN_SECONDS  # the layer, installed with the runner

    within = AT_RISK_WITHIN_SECONDS if within is None else within
    found = [
        b for b in batches if b["status"] == "pause" and b["seconds_left"] is not None and b["seconds_left"] <= within
    ]
    return sorted(found, key=lambda b: (b["seconds_left"], b["account"], b["batch_id"]))


def slots_from_table(batches: Iterable[dict[str, Any]], regions: dict[str, str | None]) -> list[AccountSlots]:
    """Each account's slots as the table records them: its paused and cancelled batches."""
    held: dict[str, list[Slot]] = {}
    for batch in batches:
        if batch["status"] in ("pause", "cancel"):
            held.setdefault(batch["account"], []).append(Slot(batch["batch_id"], batch["status"], batch["owner"]))
    return [AccountSlots(name, regions.get(name), tuple(held[name])) for name in sorted(held, key=_account_order)]


def slots_from_sendgrid(
    statuses: dict[str, dict[str, str]], owners: dict[tuple[str, str], str | None], regions: dict[str, str | None]
) -> list[AccountSlots]:
    """Each account's slots as SendGrid holds them (`statuses`: account -> batch id -> status), with each batch's
    owner from the table (None: the service never heard of the batch)."""
    return [
        AccountSlots(
            name,
            regions.get(name),
            tuple(Slot(batch, status, owners.get((name, batch))) for batch, status in sorted(statuses[name].items())),
        )
        for name in sorted(statuses, key=_account_order)
        if statuses[name]
    ]


def read_console(
    stack: str,
    now: int,
    rows: Iterable[dict[str, Any]],
    region_of: Callable[[str], str | None],
    held: dict[str, dict[str, str]] | None,
    events: list[dict[str, Any]],
) -> ConsoleView:
    """The page's picture from the batches table's `rows`, what SendGrid `held` (account -> batch -> status; None
    when no sandbox serves: the slots then come from the table) and the latest `events`, newest first."""
    batches = [batch_view(row, now, region_of) for row in rows]
    names = {b["account"] for b in batches} | set(held or {})
    regions = {name: region_of(name) for name in names}
    if held is None:
        accounts, source = slots_from_table(batches, regions), "the batches table"
    else:
        owners = {(b["account"], b["batch_id"]): b["owner"] for b in batches}
        accounts, source = slots_from_sendgrid(held, owners, regions), "the SendGrid sandboxes"
    return ConsoleView(stack, now, at_risk(batches), accounts, source, events)


def _account_order(name: str) -> tuple[bool, str]:
    return name != "parent", name


# -- the page -------------------------------------------------------------------------------------------------------
_STYLE = """<style>
body{font-family:sans-serif;margin:16px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
.account{margin:8px 0}.account h3{font-size:14px;margin:4px 0}
.slots{display:flex;gap:6px;flex-wrap:wrap}
.slot{width:118px;min-height:54px;border:1px solid #999;border-radius:4px;padding:4px;font-size:12px;
 overflow-wrap:anywhere}
.slot.free{background:#f4f4f4;color:#999}.slot.pause{background:#fff4d6}.slot.cancel{background:#fde8e8}
.slot .batch{font-family:monospace}
.events{border-collapse:collapse;font-size:13px}.events td,.events th{border-bottom:1px solid #ddd;padding:3px 6px;
 text-align:left}
</style>"""


def widget_section() -> AtRiskSection:
    """The dashboard's custom widget renderer (the layer's `app.at_risk_page`): the console shows exactly the
    widget's table, its resume commands with `--local`."""
    from scheduled_sends.app.at_risk_page import render_at_risk_html  # the layer, installed with the runner

    return lambda batches, now, stack: render_at_risk_html(batches, now, stack, target="--local")


def _slots_html(view: ConsoleView) -> str:
    if not view.accounts:
        return "<p>No account holds a paused or cancelled batch.</p>"
    parts = []
    for account in view.accounts:
        boxes = [
            f'<div class="slot {escape(slot.status)}" data-batch-id="{escape(slot.batch_id)}">'
            f'<div class="batch">{escape(slot.batch_id)}</div><div class="status">{escape(slot.status)}</div>'
            f'<div class="owner">{escape(slot.owner or "not the service")}</div></div>'
            for slot in account.slots
        ]
        boxes += ['<div class="slot free">free</div>'] * max(0, SLOTS_PER_ACCOUNT - len(account.slots))
        parts.append(
            f'<div class="account" data-account="{escape(account.account)}"><h3>{escape(account.account)}'
            f" ({escape(account.region or 'region unknown')}): {len(account.slots)} of {SLOTS_PER_ACCOUNT} slots"
            f' taken</h3><div class="slots">{"".join(boxes)}</div></div>'
        )
    return "".join(parts)


def _event_row(event: dict[str, Any]) -> str:
    detail = event.get("detail") or {}
    change = ""
    if "previous_status" in detail:
        status = detail.get("status")
        change = f"{detail['previous_status'] or 'none'} -> {'resumed' if status in (None, 'none') else status}"
    cells = (
        event.get("time"),
        event.get("detail-type"),
        detail.get("batch_id"),
        detail.get("changed_by") or "the expiry scanner",
        change,
    )
    return "<tr>" + "".join(f"<td>{escape(str(cell or ''))}</td>" for cell in cells) + "</tr>"


def render_console(view: ConsoleView, at_risk_section: AtRiskSection) -> str:
    """The whole page: refreshes itself every REFRESH_SECONDS; every value from the stack is escaped."""
    from scheduled_sends.domain.ops_view import iso  # the layer, installed with the runner

    events = "".join(_event_row(event) for event in view.events) or '<tr><td colspan="5">none yet</td></tr>'
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>Local console - {escape(view.stack)}</title>{_STYLE}</head><body>"
        f"<h1>Local console - {escape(view.stack)}</h1>"
        f'<p>Local time of the stack: <span id="now">{iso(view.now)}</span> (UTC); this page refreshes every'
        f" {REFRESH_SECONDS} s.</p>"
        f'<section id="at-risk"><h2>Batches at risk</h2>{at_risk_section(view.at_risk, view.now, view.stack)}'
        "</section>"
        f'<section id="slots"><h2>SendGrid slots by account</h2><p>Read from {escape(view.slots_source)}'
        f"; the owner from the batches table.</p>{_slots_html(view)}</section>"
        f'<section id="events"><h2>Latest events</h2><table class="events"><thead><tr><th>Time</th><th>Event</th>'
        f"<th>Batch</th><th>By</th><th>Status</th></tr></thead><tbody>{events}</tbody></table></section>"
        "</body></html>"
    )
