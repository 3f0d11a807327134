"""`python -m team_tokens issue|list|revoke` against a deployed stack (--stack) or `make run` (--local).

The stack is found the way an operator would: its outputs (TeamTokensTableName, RestApiId) from
CloudFormation, or from the local server's /_local/stack. Tokens go straight into the stack's DynamoDB
table with the caller's own AWS credentials; only their hashes are written, the token is printed once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

from scheduled_sends.adapters.token_table import TokenStore
from scheduled_sends.domain import tokens

DEFAULT_LOCAL_URL = "http://127.0.0.1:3000"
LOCAL_STACK_PATH = "/_local/stack"
# Where a running `python -m local` says it listens (local.server.state_path; not imported: it brings moto along).
LOCAL_STATE_FILE = Path(__file__).resolve().parent.parent / ".local-server.json"
STAGE = "v3"


class StackProblem(Exception):
    """The stack cannot take tokens (not found, not in TOKEN mode); the message says what to do."""


@dataclass
class Stack:
    name: str
    tokens: TokenStore
    flush_authorizer_cache: Any  # () -> None: makes a revoke count at once on the deployed API


def _deployed(name: str, session: boto3.session.Session) -> Stack:
    try:
        (described,) = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except Exception as error:
        raise StackProblem(f"cannot read stack {name}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    if "TeamTokensTableName" not in outputs:
        raise StackProblem(f"stack {name} is not in token mode: deploy it with --parameter-overrides AuthMode=TOKEN")
    api = session.client("apigateway")
    return Stack(
        name=name,
        tokens=TokenStore(session.resource("dynamodb").Table(outputs["TeamTokensTableName"])),
        flush_authorizer_cache=lambda: api.flush_stage_authorizers_cache(
            restApiId=outputs["RestApiId"], stageName=STAGE
        ),
    )


def local_url(given: str | None) -> tuple[str, str]:
    """The local server's URL and where it came from: the one given, the one a running `make run` wrote to
    .local-server.json, the port in PORT, or port 3000."""
    if given:
        return given, "--local"
    state = Path(os.environ.get("LOCAL_SERVER_STATE") or LOCAL_STATE_FILE)
    try:
        return json.loads(state.read_text(encoding="utf-8"))["url"], state.name
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if os.environ.get("PORT"):
        return f"http://127.0.0.1:{os.environ['PORT']}", "PORT"
    return DEFAULT_LOCAL_URL, "the default port"


def _local(given: str | None) -> Stack:
    url, source = local_url(given)
    try:
        answer = requests.get(url.rstrip("/") + LOCAL_STACK_PATH, timeout=5)
        answer.raise_for_status()
    except requests.RequestException as error:
        raise StackProblem(
            f"no local server at {url} (from {source}: {error}); start it with `make run AUTH_MODE=TOKEN`, or name "
            "it: --local http://127.0.0.1:<port> (make ... LOCAL_URL=http://127.0.0.1:<port>)"
        ) from None
    stack = answer.json()
    table = stack["Outputs"].get("TeamTokensTableName")
    if not table:
        raise StackProblem("the local server is not in token mode: stop it and start `make run AUTH_MODE=TOKEN`")
    resource = boto3.resource(
        "dynamodb",
        endpoint_url=stack["AwsEndpointUrl"],
        region_name=stack["Region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto's placeholder, not a secret
    )
    # The local server asks the authorizer on every request: nothing is cached, nothing to flush.
    return Stack(name=stack["StackName"], tokens=TokenStore(resource.Table(table)), flush_authorizer_cache=lambda: None)


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


def issue(stack: Stack, options: argparse.Namespace) -> dict[str, Any]:
    token, record = tokens.new_token(options.team, options.subuser, int(time.time()), options.description)
    stack.tokens.add(record)
    return {**_describe(record), "token": token}


def list_tokens(stack: Stack, options: argparse.Namespace) -> list[dict[str, Any]]:
    return [_describe(t) for t in stack.tokens.all() if options.all or not t.revoked]


def revoke(stack: Stack, options: argparse.Namespace) -> dict[str, Any]:
    record = stack.tokens.revoke(tokens.token_id(options.token_id), int(time.time()))
    if record is None:
        raise StackProblem(f"stack {stack.name} has no token {options.token_id}")
    stack.flush_authorizer_cache()
    return _describe(record)


def _print(command: str, result: Any) -> None:
    if command == "issue":
        subusers = ", ".join(result["subusers"]) or "any (no on-behalf-of limit)"
        print(
            f"token id:  {result['token_id']}\n"
            f"team:      {result['team']} (acts as {result['principal']})\n"
            f"subusers:  {subusers}\n"
            f"token:     {result['token']}\n\n"
            "This is the only time the token is shown; only its hash is stored. Use it as the API key:\n"
            "  SendGridAPIClient(token, host=<ApiUrl or custom domain>)"
        )
    elif command == "list":
        print(f"{'TOKEN ID':<17} {'TEAM':<20} {'CREATED':<21} {'REVOKED':<21} SUBUSERS")
        for t in result:
            subusers = ",".join(t["subusers"]) or "any"
            print(
                f"{t['token_id']:<17} {t['team']:<20} {_when(t['created_at']):<21} "
                f"{_when(t['revoked_at']):<21} {subusers}"
            )
    else:
        print(f"revoked {result['token_id']} (team {result['team']}) at {_when(result['revoked_at'])}")


_COMMANDS = ("issue", "list", "revoke")


def _local_without_url(argv: list[str]) -> list[str]:
    """`--local list` is `--local` without its URL followed by the command, not the URL "list"."""
    if "--local" in argv:
        after = argv.index("--local") + 1
        if after == len(argv) or argv[after] in _COMMANDS or argv[after].startswith("-"):
            argv = [*argv[:after], "", *argv[after:]]
    return argv


def main(argv: list[str] | None = None, session: boto3.session.Session | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m team_tokens", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack's name (uses your AWS credentials)")
    where.add_argument(
        "--local",
        nargs="?",
        const="",
        metavar="URL",
        help="the local server (default: the one `make run` is running, from .local-server.json; else PORT or 3000)",
    )
    parser.add_argument("--region", help="the deployed stack's region (default: your AWS configuration's)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True)
    issuing = commands.add_parser("issue", help="issue a token for a team (printed once)")
    issuing.add_argument("--team", required=True, help="the team; its requests act as principal team:<name>")
    issuing.add_argument(
        "--subuser", action="append", default=[], help="limit the token to this on-behalf-of value (repeatable)"
    )
    issuing.add_argument("--description", default="", help="a note for the list (who, what for)")
    listing = commands.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    revoking = commands.add_parser("revoke", help="revoke a token by its id")
    revoking.add_argument("token_id")
    options = parser.parse_args(_local_without_url(sys.argv[1:] if argv is None else list(argv)))
    try:
        if options.stack:
            stack = _deployed(options.stack, session or boto3.session.Session(region_name=options.region))
        else:  # --local, with or without its URL
            stack = _local(options.local)
        result = {"issue": issue, "list": list_tokens, "revoke": revoke}[options.command](stack, options)
    except (StackProblem, tokens.InvalidTokenRequest) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        _print(options.command, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
