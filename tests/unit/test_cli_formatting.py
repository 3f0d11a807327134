"""The command-line tool's parsing and formatting: durations, "47 min left", local times, accounts as callers
write on-behalf-of, tables, `--local` without a URL, and when it may act without asking."""

from __future__ import annotations

import io
from datetime import UTC, timedelta, timezone

import pytest

from scheduled_sends_cli import accounts, batches, table, timefmt
from scheduled_sends_cli.__main__ import _local_without_url
from scheduled_sends_cli.confirm import Declined, confirm
from scheduled_sends_cli.outcome import FAILED, USAGE, UsageProblem


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("90m", 5400), ("2d", 172800), ("1h30m", 5400), ("45s", 45), ("3600", 3600), (" 6h ", 21600)],
)
def test_durations_are_read_as_people_write_them(text: str, seconds: int) -> None:
    assert timefmt.duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1 hour", "-1h", "1.5h", "1w"])
def test_a_duration_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="a duration is written"):
        timefmt.duration_seconds(text)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (47 * 60 + 59, "47 min left"),
        (59, "59 s left"),
        (0, "0 s left"),
        (3600, "1 h left"),
        (2 * 3600 + 5 * 60, "2 h 5 min left"),
        (47 * 3600, "47 h left"),
        (3 * 86400 + 4 * 3600, "3 d 4 h left"),
        (-300, "expired 5 min ago"),
        (None, "-"),
    ],
)
def test_time_left_reads_like_a_person_says_it(seconds: int | None, said: str) -> None:
    assert timefmt.time_left(seconds) == said


def test_times_are_shown_in_the_operators_zone_and_iso_in_utc() -> None:
    cet = timezone(timedelta(hours=1), "CET")
    assert timefmt.local_time(1796394180, cet) == "2026-12-04 15:23 CET"
    assert timefmt.local_time(1796394180, UTC) == "2026-12-04 14:23 UTC"
    assert timefmt.iso_utc(1796394180) == "2026-12-04T14:23:00Z"
    assert timefmt.local_time(None) == "-"


@pytest.mark.parametrize(
    ("written", "header"),
    [
        ("parent", None),
        ("acme", "acme"),
        ("account-id 12345", "account-id 12345"),
        ("account-id   12345", "account-id 12345"),
    ],
)
def test_accounts_are_written_the_way_callers_write_on_behalf_of(written: str, header: str | None) -> None:
    assert accounts.on_behalf_of(written) == header
    assert accounts.query_value(written) == (header or "parent")


@pytest.mark.parametrize("written", ["", "account-id", "two words", "account-id 1 2"])
def test_an_account_that_is_not_written_that_way_is_a_usage_error(written: str) -> None:
    with pytest.raises(UsageProblem):
        accounts.on_behalf_of(written)


def test_the_resume_command_names_the_parent_for_null_or_empty_on_behalf_of() -> None:
    for parent_form in (None, ""):
        batch = {"batch_id": "b-1", "on_behalf_of": parent_form}
        assert batches.resume_command(batch, "--local") == "scheduled-sends --local resume b-1 --account parent"
    batch = {"batch_id": "-dash-first", "on_behalf_of": "acme"}
    assert batches.resume_command(batch, "--local") == "scheduled-sends --local resume --account acme -- -dash-first"
    batch = {"batch_id": "b-2", "on_behalf_of": "account-id 42"}
    assert batches.resume_command(batch, "--stack prod --region eu-west-1") == (
        "scheduled-sends --stack prod --region eu-west-1 resume b-2 --account 'account-id 42'"
    )


def test_tables_pad_columns_to_their_widest_cell() -> None:
    assert table.render(("A", "LONGER"), [("wide cell", 1), ("x", None)]).splitlines() == [
        "A          LONGER",
        "wide cell  1",
        "x          -",
    ]


@pytest.mark.parametrize(
    ("given", "read"),
    [
        (["--local", "at-risk"], ["--local", "", "at-risk"]),
        (["at-risk", "--local"], ["at-risk", "--local", ""]),
        (["--local", "http://127.0.0.1:3001", "at-risk"], ["--local", "http://127.0.0.1:3001", "at-risk"]),
        (["resume", "--local", "batch-1"], ["resume", "--local", "", "batch-1"]),
        (["--local", "--json", "show"], ["--local", "", "--json", "show"]),
    ],
)
def test_local_without_a_url_is_followed_by_anything_but_a_url(given: list[str], read: list[str]) -> None:
    assert _local_without_url(given) == read


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_yes_acts_without_asking_even_without_a_terminal() -> None:
    stderr = io.StringIO()
    confirm("Resume?", assume_yes=True, stdin=io.StringIO(), stderr=stderr)
    assert stderr.getvalue() == ""


def test_without_a_terminal_and_without_yes_it_refuses_with_a_usage_error() -> None:
    with pytest.raises(UsageProblem, match="pass --yes") as refused:
        confirm("Resume?", assume_yes=False, stdin=io.StringIO("y\n"), stderr=io.StringIO())
    assert refused.value.exit_code == USAGE


@pytest.mark.parametrize("answer", ["y\n", "yes\n", " Y \n"])
def test_on_a_terminal_yes_lets_it_act(answer: str) -> None:
    stderr = io.StringIO()
    confirm("Resume batch b-1?", assume_yes=False, stdin=_Terminal(answer), stderr=stderr)
    assert stderr.getvalue() == "Resume batch b-1? [y/N] "


@pytest.mark.parametrize("answer", ["\n", "n\n", "no\n", "yes please\n", ""])
def test_on_a_terminal_anything_else_declines(answer: str) -> None:
    with pytest.raises(Declined) as declined:
        confirm("Resume?", assume_yes=False, stdin=_Terminal(answer), stderr=io.StringIO())
    assert declined.value.exit_code == FAILED
