"""Asking before acting: yes on a terminal, `--yes` in scripts, and no silent yes when neither is possible."""

from __future__ import annotations

from typing import TextIO

from .outcome import CommandFailed, UsageProblem


class Declined(CommandFailed):
    """The operator answered no: nothing was done."""


def confirm(question: str, *, assume_yes: bool, stdin: TextIO, stderr: TextIO) -> None:
    """Returns when the action may go ahead; raises UsageProblem (exit 2) without a terminal and without --yes,
    Declined (exit 1) when the operator says anything but y/yes."""
    if assume_yes:
        return
    if not stdin.isatty():
        raise UsageProblem(f"{question} - no terminal to ask on: pass --yes to act without asking")
    stderr.write(f"{question} [y/N] ")
    stderr.flush()
    answer = stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise Declined("not confirmed: nothing was changed")
