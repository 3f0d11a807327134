"""The tool's exit codes, one exception type per code, so every command ends the same way."""

from __future__ import annotations

OK = 0
FAILED = 1  # the service or AWS answered an error, a smoke step failed, or nothing answered
USAGE = 2  # the command line was wrong, or a confirmation was needed and could not be asked
NOT_FOUND = 3  # no such batch, stack or token, or the caller may not see it (403)


class CommandFailed(Exception):
    """Ends the command with `exit_code`; the message is printed on stderr as `error: ...`."""

    exit_code = FAILED


class UsageProblem(CommandFailed):
    exit_code = USAGE


class NotFoundOrForbidden(CommandFailed):
    exit_code = NOT_FOUND
