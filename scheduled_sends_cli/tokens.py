"""`scheduled-sends tokens issue|list|revoke` (AuthMode=TOKEN): team tokens go straight into the stack's token
table with the operator's own AWS credentials; only their hashes are written, the token is printed once."""

from __future__ import annotations

import time
from typing import Any, TextIO

from scheduled_sends.adapters.token_table import TokenStore
from scheduled_sends.domain import tokens

from . import table
from .outcome import NotFoundOrForbidden, UsageProblem
from .target import Target

STAGE = "v3"


def _store(target: Target) -> TokenStore:
    name = target.outputs.get("TeamTokensTableName")
    if not name:
        if target.is_local:
            raise UsageProblem("the local server is not in token mode: stop it and start `make run AUTH_MODE=TOKEN`")
        raise UsageProblem(
            f"stack {target.name} is not in token mode: deploy it with --parameter-overrides AuthMode=TOKEN"
        )
    return TokenStore(target.resource("dynamodb").Table(name))


def _flush_authorizer_cache(target: Target) -> None:
    """Makes a revoke count at once on the deployed API (the local server asks the authorizer every time)."""
    if not target.is_local:
        target.client("apigateway").flush_stage_authorizers_cache(
            restApiId=target.outputs["RestApiId"], stageName=STAGE
        )


def _describe(token: tokens.TeamToken) -> dict[str, Any]:
    return {
        "token_id": token.token_id,
        "team": token.team,
        "principal": token.principal,
        "subusers": list(token.subusers),
        "created_at": token.created_at,
        "revoked_at": token.revoked_at,
        "description": token.description,
    }


def _when(seconds: int | None) -> str:
    return "-" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(seconds))


def issue(target: Target, team: str, subusers: list[str], description: str) -> dict[str, Any]:
    try:
        token, record = tokens.new_token(team, subusers, int(time.time()), description)
    except tokens.InvalidTokenRequest as problem:
        raise UsageProblem(str(problem)) from None
    _store(target).add(record)
    return {**_describe(record), "token": token}


def list_tokens(target: Target, include_revoked: bool) -> list[dict[str, Any]]:
    return [_describe(t) for t in _store(target).all() if include_revoked or not t.revoked]


def revoke(target: Target, token_id: str) -> dict[str, Any]:
    try:
        record = _store(target).revoke(tokens.token_id(token_id), int(time.time()))
    except tokens.InvalidTokenRequest as problem:
        raise UsageProblem(str(problem)) from None
    if record is None:
        raise NotFoundOrForbidden(f"stack {target.name} has no token {token_id}")
    _flush_authorizer_cache(target)
    return _describe(record)


def print_result(command: str, result: Any, out: TextIO) -> None:
    if command == "issue":
        subusers = ", ".join(result["subusers"]) or "any (no on-behalf-of limit)"
        out.write(
            f"token id:     {result['token_id']}\n"
            f"team:         {result['team']} (acts as {result['principal']})\n"
            f"subusers:     {subusers}\n"
            f"description:  {result['description'] or '-'}\n"
            f"token:        {result['token']}\n\n"
            "This is the only time the token is shown; only its hash is stored. Use it as the API key:\n"
            "  SendGridAPIClient(token, host=<ApiUrl or custom domain>)\n"
        )
    elif command == "list":
        rows = [
            (
                t["token_id"],
                t["team"],
                _when(t["created_at"]),
                _when(t["revoked_at"]),
                ",".join(t["subusers"]) or "any",
                t["description"] or "-",
            )
            for t in result
        ]
        out.write(table.render(("TOKEN ID", "TEAM", "CREATED", "REVOKED", "SUBUSERS", "DESCRIPTION"), rows) + "\n")
    else:
        out.write(f"revoked {result['token_id']} (team {result['team']}) at {_when(result['revoked_at'])}\n")
