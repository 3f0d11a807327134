"""The batches at risk as an HTML fragment: the CloudWatch dashboard's custom widget and the local console show
the same picture. A pure function of the `<batch>` dicts the admin routes answer (`ops_view.batch_view`)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from html import escape
from typing import Any

from ..domain import ops_view

_STYLE = (
    "<style>"
    ".at-risk{border-collapse:collapse;width:100%;font-family:sans-serif;font-size:13px}"
    ".at-risk th,.at-risk td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}"
    ".at-risk .urgent td{background:#fde8e8}"
    ".at-risk code{font-size:12px;white-space:nowrap}"
    "</style>"
)
_URGENT_SECONDS = 3600
_COLUMNS = ("Account", "Region", "Owner", "Batch", "Time left", "Expires", "Expiry action", "Resume with")


def resume_command(batch: dict[str, Any], stack: str, target: str | None = None) -> str:
    """The exact command that resumes the batch (`target`: how the tool finds the service, `--stack <stack>` by
    default; the local console passes `--local`)."""
    where = target if target is not None else f"--stack {shlex.quote(stack)}"
    return (
        f"scheduled-sends resume {shlex.quote(str(batch['batch_id']))} "
        f"--account {shlex.quote(str(batch['account']))} {where}"
    )


def _seconds_left(batch: dict[str, Any], now: int) -> int | None:
    expires_at = batch.get("expires_at")
    return expires_at - now if isinstance(expires_at, int) else batch.get("seconds_left")


def _cell(value: Any, placeholder: str = "-") -> str:
    return f"<td>{escape(placeholder if value is None else str(value))}</td>"


def _row(batch: dict[str, Any], now: int, stack: str, target: str | None) -> str:
    left = _seconds_left(batch, now)
    urgent = left is not None and left <= _URGENT_SECONDS
    basis = " (earliest possible)" if batch.get("expires_at_basis") == "earliest_possible" else ""
    expires = ops_view.iso(batch.get("expires_at"))
    cells = [
        _cell(batch.get("account")),
        _cell(batch.get("region"), "unknown"),
        _cell(batch.get("owner"), "nobody"),
        f"<td><code>{escape(str(batch['batch_id']))}</code></td>",
        _cell(ops_view.time_left_text(left)),
        _cell(None if expires is None else expires + basis),
        _cell(batch.get("expiry_action"), "none"),
        f"<td><code>{escape(resume_command(batch, stack, target))}</code></td>",
    ]
    return (
        f'<tr class="{"urgent" if urgent else "watch"}" data-batch-id="{escape(str(batch["batch_id"]))}">'
        + "".join(cells)
        + "</tr>"
    )


def render_at_risk_html(batches: Iterable[dict[str, Any]], now: int, stack: str, *, target: str | None = None) -> str:
    """A table of the batches at risk, soonest first as given: account, region, owner, time left ("47 min left"),
    expiry action and the command that resumes each. Every value is escaped."""
    rows = [_row(batch, now, stack, target) for batch in batches]
    heading = f"<p>Paused batches at risk at {escape(str(ops_view.iso(now)))} (UTC): {len(rows)}</p>"
    if not rows:
        return _STYLE + heading + "<p>No paused batch expires within the next hours.</p>"
    head = "".join(f"<th>{escape(name)}</th>" for name in _COLUMNS)
    return (
        _STYLE
        + heading
        + f'<table class="at-risk"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )
