"""The on-call commands: `at-risk` (paused batches about to expire, across accounts), `show` (one batch and its
history), `resume` and `cancel` (one audited action as the operator), over the service's admin routes."""

from __future__ import annotations

import shlex
from typing import Any, TextIO

from . import accounts, table, timefmt
from .api import Api, batch_path
from .confirm import confirm
from .outcome import NotFoundOrForbidden

DEFAULT_WITHIN = "6h"  # the 6-hour gauge's window; the alarm's is 1h (`--within 1h`)
PAGE_LIMIT = 100


def at_risk(api: Api, within: str, account: str | None = None, owner: str | None = None) -> dict[str, Any]:
    """Every paused batch expiring within `within`, soonest first, across accounts (all pages)."""
    seconds = timefmt.duration_seconds(within)
    query: dict[str, Any] = {"status": "pause", "expires_within": seconds, "limit": PAGE_LIMIT}
    if account:
        query["account"] = accounts.query_value(account)
    if owner:
        query["owner"] = owner
    found: list[dict[str, Any]] = []
    page: dict[str, Any] = {}
    while True:
        answer = api.expect(api.call("GET", "/ops/batches", query={**query, **page}), "listing batches")
        found.extend(answer.body.get("batches") or [])
        if not answer.body.get("next_token"):
            break
        page = {"next_token": answer.body["next_token"]}
    found.sort(key=lambda b: (b.get("expires_at") is None, b.get("expires_at") or 0))
    return {"batches": found, "now": answer.body.get("now"), "now_iso": answer.body.get("now_iso"), "within": seconds}


def account_argument(batch: dict[str, Any]) -> str:
    """The batch's account as `--account` takes it (the parent's on_behalf_of is null or "")."""
    return batch.get("on_behalf_of") or accounts.PARENT


def resume_command(batch: dict[str, Any], target_flags: str) -> str:
    """The exact command that resumes `batch` (a batch id may start with "-": it then follows "--")."""
    batch_id, account = shlex.quote(batch["batch_id"]), shlex.quote(account_argument(batch))
    if batch_id.startswith("-"):
        return f"scheduled-sends {target_flags} resume --account {account} -- {batch_id}"
    return f"scheduled-sends {target_flags} resume {batch_id} --account {account}"


def print_at_risk(result: dict[str, Any], target_flags: str, out: TextIO) -> None:
    batches = result["batches"]
    window = timefmt.time_left(result["within"]).removesuffix(" left")
    if not batches:
        out.write(f"No paused batch expires within {window}.\n")
        return
    rows = [
        (
            b["batch_id"],
            account_argument(b),
            b.get("region"),
            b.get("owner"),
            timefmt.time_left(b.get("seconds_left")),
            timefmt.local_time(b.get("expires_at")),
            b.get("expiry_action") or "none",
        )
        for b in batches
    ]
    out.write(
        table.render(("BATCH", "ACCOUNT", "REGION", "OWNER", "TIME LEFT", "EXPIRES", "EXPIRY ACTION"), rows) + "\n"
    )
    out.write(f"\n{len(batches)} paused batch(es) expire within {window}. To resume one:\n")
    for b in batches:
        out.write(f"  {resume_command(b, target_flags)}\n")


def show(api: Api, batch_id: str, account: str) -> dict[str, Any]:
    answer = api.call("GET", f"/ops/batches/{batch_path(batch_id)}", query={"account": accounts.query_value(account)})
    return api.expect(answer, f"batch {batch_id} in {account}").body


def print_show(batch: dict[str, Any], out: TextIO) -> None:
    fields = (
        ("batch", batch.get("batch_id")),
        ("account", account_argument(batch)),
        ("region", batch.get("region")),
        ("owner", batch.get("owner")),
        ("status", batch.get("status") or "none (sends as scheduled)"),
        ("send at", timefmt.local_time(batch.get("send_at"))),
        ("last send at", timefmt.local_time(batch.get("last_send_at"))),
        (
            "expires",
            f"{timefmt.local_time(batch.get('expires_at'))} ({timefmt.time_left(batch.get('seconds_left'))}; "
            f"from {batch.get('expires_at_basis') or '-'})",
        ),
        ("expiry action", batch.get("expiry_action") or "none"),
        ("updated", timefmt.local_time(batch.get("updated_at"))),
    )
    out.write("\n".join(f"{name + ':':<15}{value if value is not None else '-'}" for name, value in fields) + "\n")
    history = batch.get("history") or []
    if history:
        rows = [
            (
                timefmt.local_time(h.get("changed_at")),
                h.get("changed_by") or "the expiry scanner",
                f"{h.get('previous_status') or 'none'} -> {h.get('status') or 'none'}",
                h.get("detail_type"),
            )
            for h in history
        ]
        out.write("\nhistory:\n" + table.render(("WHEN", "BY", "CHANGE", "EVENT"), rows) + "\n")


def _describe_for_question(batch: dict[str, Any]) -> str:
    owner = batch.get("owner") or "unknown owner"
    return f"{batch.get('status') or 'not paused'}, {timefmt.time_left(batch.get('seconds_left'))}, owner {owner}"


def act(
    api: Api,
    action: str,
    batch_id: str,
    account: str,
    *,
    assume_yes: bool,
    stdin: TextIO,
    stderr: TextIO,
) -> dict[str, Any]:
    """resume (DELETE the pause) or cancel (PATCH it to cancel) as the operator, after confirmation."""
    header = accounts.on_behalf_of(account)
    batch = show(api, batch_id, account)  # 404/403 end here, before asking
    confirm(
        f"{action.capitalize()} batch {batch_id} in {account} ({_describe_for_question(batch)})?",
        assume_yes=assume_yes,
        stdin=stdin,
        stderr=stderr,
    )
    path = f"/user/scheduled_sends/{batch_path(batch_id)}"
    if action == "resume":
        answer = api.call("DELETE", path, on_behalf_of=header)
    else:
        answer = api.call("PATCH", path, body={"status": "cancel"}, on_behalf_of=header)
    if answer.status == 404:
        raise NotFoundOrForbidden(f"{action} {batch_id}: not paused or cancelled in {account} (404)")
    api.expect(answer, f"{action} {batch_id}")
    return {
        "batch_id": batch_id,
        "account": account,
        "action": action,
        "status": answer.status,
        "request_id": answer.headers.get("x-request-id") or answer.headers.get("x-amzn-requestid"),
    }
