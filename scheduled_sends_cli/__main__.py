"""scheduled-sends: find paused batches about to expire, read one, resume or cancel it as yourself, manage
team tokens, and smoke-check a deployed stack or `make run`.

Exit codes: 0 done; 1 failed (the service or AWS answered an error, a smoke step failed, no answer);
2 usage (a wrong command line, or a confirmation needed without a terminal and without --yes);
3 not found or forbidden (no such batch, stack or token, or not an admin).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import Any, TextIO

import boto3

from . import batches, scanner_check, smoke, timefmt, tokens
from .bus_watch import AwsBusWatch, LocalBusWatch
from .outcome import OK, CommandFailed, UsageProblem
from .target import Target, deployed, local

PROG = "scheduled-sends"
TOKEN_ENV = "SCHEDULED_SENDS_TOKEN"  # noqa: S105 - the variable's name, not a token


def _duration(text: str) -> str:
    try:
        timefmt.duration_seconds(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None
    return text


def _target_options(suppress: bool) -> argparse.ArgumentParser:
    """--stack/--region/--local/--json/--token, accepted before and after the command."""
    default = argparse.SUPPRESS if suppress else None
    options = argparse.ArgumentParser(add_help=False)
    where = options.add_argument_group("where")
    where.add_argument(
        "--stack",
        default=default,
        help="a deployed stack's name (requests signed with your own AWS credentials)",
    )
    where.add_argument("--region", default=default, help="the stack's region (default: your AWS configuration's)")
    where.add_argument(
        "--local",
        nargs="?",
        const="",
        default=default,
        metavar="URL",
        help="the local server (default: the one `make run` is running, from .local-server.json; else PORT or 3000)",
    )
    where.add_argument(
        "--token",
        default=default,
        help=f"a team token instead of SigV4 (AuthMode=TOKEN stacks; default ${TOKEN_ENV})",
    )
    options.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False, help="print JSON for scripts"
    )
    return options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[1],
        parents=[_target_options(suppress=False)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = _target_options(suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    risky = commands.add_parser("at-risk", parents=[common], help="paused batches about to expire, across accounts")
    risky.add_argument(
        "--within", type=_duration, default=batches.DEFAULT_WITHIN, help="1h, 90m, 2d... (default 6h; the alarm: 1h)"
    )
    risky.add_argument("--account", help="only this account (a subuser, `account-id <id>` or parent)")
    risky.add_argument("--owner", help="only this owner (the principal that paused it)")

    account_help = "the batch's account as on-behalf-of is written: a subuser's name, `account-id <id>`, or parent"
    showing = commands.add_parser("show", parents=[common], help="one batch: owner, times, time left, history")
    showing.add_argument("batch_id", metavar="BATCH")
    showing.add_argument("--account", required=True, help=account_help)
    for action, what in (("resume", "delete the pause: the mail goes out"), ("cancel", "change the pause to cancel")):
        acting = commands.add_parser(action, parents=[common], help=f"{what} (as you; asks first)")
        acting.add_argument("batch_id", metavar="BATCH")
        acting.add_argument("--account", required=True, help=account_help)
        acting.add_argument("--yes", "-y", action="store_true", help="do not ask (scripts)")

    team_tokens = commands.add_parser("tokens", parents=[common], help="team tokens (AuthMode=TOKEN)")
    token_commands = team_tokens.add_subparsers(dest="tokens_command", required=True, metavar="TOKENS_COMMAND")
    issuing = token_commands.add_parser("issue", parents=[common], help="issue a token for a team (printed once)")
    issuing.add_argument("--team", required=True, help="the team; its requests act as principal team:<name>")
    issuing.add_argument(
        "--subuser", action="append", default=[], help="limit the token to this on-behalf-of value (repeatable)"
    )
    issuing.add_argument("--description", default="", help="a note for the list (who, what for)")
    listing = token_commands.add_parser("list", parents=[common], help="tokens and their teams, never their secrets")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    revoking = token_commands.add_parser("revoke", parents=[common], help="revoke a token by its id")
    revoking.add_argument("token_id")

    smoking = commands.add_parser("smoke", parents=[common], help="check a stack end to end with a batch of its own")
    smoking.add_argument("--on-behalf-of", metavar="SUBUSER", help="run in this subuser's account (default: parent)")
    smoking.add_argument("--events-timeout", type=_duration, default="60s", help="how long to wait for events (60s)")
    smoking.add_argument(
        "--scanner-within", type=_duration, default="15m", help="the scanner must have run this recently (15m)"
    )
    return parser


def _local_without_url(argv: list[str]) -> list[str]:
    """`--local at-risk` is --local without a URL followed by the command: a URL starts with http(s)://."""
    fixed: list[str] = []
    for position, argument in enumerate(argv):
        fixed.append(argument)
        if argument == "--local":
            following = argv[position + 1] if position + 1 < len(argv) else ""
            if not following.startswith(("http://", "https://")):
                fixed.append("")
    return fixed


def _target(options: argparse.Namespace, session: boto3.session.Session | None) -> Target:
    token = options.token or os.environ.get(TOKEN_ENV)
    if options.stack and options.local is not None:
        raise UsageProblem("name a deployed stack (--stack) or the local server (--local), not both")
    if options.stack:
        return deployed(options.stack, session or boto3.session.Session(region_name=options.region), token)
    if options.local is not None:
        return local(options.local or None, token)
    raise UsageProblem("say where: --stack NAME [--region R] for a deployed stack, or --local [URL] for `make run`")


def _target_flags(options: argparse.Namespace, target: Target) -> str:
    if target.is_local:
        return "--local" + (f" {shlex.quote(options.local)}" if options.local else "")
    return f"--stack {shlex.quote(target.name)} --region {shlex.quote(target.region)}"


def _run(
    options: argparse.Namespace, session: boto3.session.Session | None, stdin: TextIO, out: TextIO, err: TextIO
) -> tuple[Any, bool]:
    """Runs the command; returns its JSON result and whether it succeeded (it printed text unless --json)."""
    target = _target(options, session)
    command = options.command
    if command == "at-risk":
        result = batches.at_risk(target.api, options.within, options.account, options.owner)
        if not options.json:
            batches.print_at_risk(result, _target_flags(options, target), out)
        return result, True
    if command == "show":
        result = batches.show(target.api, options.batch_id, options.account)
        if not options.json:
            batches.print_show(result, out)
        return result, True
    if command in ("resume", "cancel"):
        result = batches.act(
            target.api, command, options.batch_id, options.account, assume_yes=options.yes, stdin=stdin, stderr=err
        )
        if not options.json:
            out.write(f"{'resumed' if command == 'resume' else 'cancelled'} {options.batch_id} in {options.account}\n")
        return result, True
    if command == "tokens":
        sub = options.tokens_command
        tokens_result: Any
        if sub == "issue":
            tokens_result = tokens.issue(target, options.team, options.subuser, options.description)
        elif sub == "list":
            tokens_result = tokens.list_tokens(target, options.all)
        else:
            tokens_result = tokens.revoke(target, options.token_id)
        if not options.json:
            tokens.print_result(sub, tokens_result, out)
        return tokens_result, True
    # smoke
    within = timefmt.duration_seconds(options.scanner_within)
    if target.is_local:
        watch: Any = LocalBusWatch(target)
        check = lambda: scanner_check.check_local(target, within)  # noqa: E731
    else:
        watch = AwsBusWatch(target)
        check = lambda: scanner_check.check_aws(target, within)  # noqa: E731
    run = smoke.smoke(
        target.api,
        watch,
        check,
        options.on_behalf_of,
        events_timeout=timefmt.duration_seconds(options.events_timeout),
        stderr=err,
    )
    if not options.json:
        smoke.print_run(run, out)
    return run.as_json(), run.ok


def main(
    argv: list[str] | None = None,
    session: boto3.session.Session | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdin, out, err = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    parser = _parser()
    try:
        options = parser.parse_args(_local_without_url(sys.argv[1:] if argv is None else list(argv)))
    except SystemExit as leaving:  # argparse: --help (0) or a usage error (2)
        return int(leaving.code or 0)
    try:
        result, succeeded = _run(options, session, stdin, out, err)
    except CommandFailed as failure:
        err.write(f"error: {failure}\n")
        return failure.exit_code
    except KeyboardInterrupt:  # the smoke check has cleaned up already (its finally)
        err.write("interrupted\n")
        return CommandFailed.exit_code
    if options.json:
        out.write(json.dumps(result, indent=2) + "\n")
    return OK if succeeded else CommandFailed.exit_code


if __name__ == "__main__":
    sys.exit(main())
