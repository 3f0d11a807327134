"""The pure domain rules: ownership, windows, expiry and the scanner's schedule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduled_sends.domain import ownership, scan_plan, send_windows, slot_quota
from scheduled_sends.domain.batch import Batch

HOUR = 3600
THRESHOLDS = (24 * HOUR, 6 * HOUR, HOUR)
LEAD = 1800
SEND_AT = 1_800_000_000


def _paused(**changes) -> Batch:
    return Batch(account="parent", batch_id="b", owner="o", status="pause", send_at=SEND_AT, **changes)


def test_every_session_of_an_assumed_role_is_one_owner_the_role() -> None:
    a = ownership.owner_of("arn:aws:sts::111122223333:assumed-role/marketing-app/session-1")
    b = ownership.owner_of("arn:aws:sts::111122223333:assumed-role/marketing-app/i-0abc")
    assert a == b == "arn:aws:iam::111122223333:role/marketing-app"
    assert ownership.owner_of("arn:aws:iam::111122223333:user/alice") == "arn:aws:iam::111122223333:user/alice"
    assert ownership.owner_of("arn:aws-cn:sts::1:assumed-role/r/s") == "arn:aws-cn:iam::1:role/r"


def test_admins_may_act_on_any_batch_others_only_on_their_own() -> None:
    admins = ["arn:aws:sts::1:assumed-role/ops/whoever"]  # an admin written as a session still means the role
    assert ownership.may_act("arn:aws:iam::1:role/ops", "someone-else", admins)
    assert ownership.may_act("arn:aws:iam::1:user/a", "arn:aws:iam::1:user/a", admins)
    assert not ownership.may_act("arn:aws:iam::1:user/b", "arn:aws:iam::1:user/a", admins)
    assert not ownership.may_act("arn:aws:iam::1:user/b", None, admins)


@pytest.mark.parametrize(
    "principal",
    [
        "arn:aws:iam::1:role/oncall",
        "arn:aws:iam::1:role/ops/oncall",  # a role with a path, as IAM shows its ARN
        "arn:aws:iam::1:role/ops/team/oncall",
        "arn:aws:sts::1:assumed-role/oncall/pager-duty",  # its sessions carry no path
    ],
)
def test_a_role_is_one_owner_whatever_its_path_role_names_being_unique_in_an_account(principal: str) -> None:
    assert ownership.owner_of(principal) == "arn:aws:iam::1:role/oncall"


def test_sso_roles_with_their_long_paths_match_their_sessions() -> None:
    role = "arn:aws:iam::1:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123abcd"
    session = "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0123abcd/someone@example.com"
    assert ownership.owner_of(role) == ownership.owner_of(session)
    assert ownership.is_admin(ownership.owner_of(session), [role])


def test_an_admin_role_listed_with_its_path_is_an_admin_in_every_session() -> None:
    admins = ["arn:aws:iam::1:role/ops/oncall"]
    assert ownership.is_admin(ownership.owner_of("arn:aws:sts::1:assumed-role/oncall/s1"), admins)
    assert ownership.may_act(
        ownership.owner_of("arn:aws:sts::1:assumed-role/oncall/s2"), "arn:aws:iam::1:role/app", admins
    )
    assert not ownership.is_admin(
        ownership.owner_of("arn:aws:sts::2:assumed-role/oncall/s1"), admins
    )  # another account
    assert not ownership.is_admin(ownership.owner_of("arn:aws:sts::1:assumed-role/ops/s1"), admins)  # a path is no role


@pytest.mark.parametrize(
    "recorded",
    [
        "arn:aws:iam::1:role/app",  # how every row written so far records a role (from its sessions, no path)
        "arn:aws:iam::1:role/teams/app",  # had a row ever recorded the path, it would match too
    ],
)
def test_an_owner_recorded_in_either_form_keeps_its_batches(recorded: str) -> None:
    for caller in ("arn:aws:sts::1:assumed-role/app/s1", "arn:aws:iam::1:role/teams/app"):
        assert ownership.may_act(ownership.owner_of(caller), recorded, admins=())
    assert not ownership.may_act(ownership.owner_of("arn:aws:sts::1:assumed-role/other/s1"), recorded, admins=())


def test_users_are_not_rewritten() -> None:
    assert ownership.owner_of("arn:aws:iam::1:user/division/alice") == "arn:aws:iam::1:user/division/alice"
    assert ownership.owner_of("team:ops") == "team:ops"


def test_accounts_are_the_parent_or_the_on_behalf_of_value() -> None:
    assert ownership.account_key(None) == "parent"
    assert ownership.account_key("sub-a") == "sub:sub-a"
    assert ownership.on_behalf_of_of(ownership.account_key("account-id 7")) == "account-id 7"
    assert ownership.on_behalf_of_of("parent") is None


def test_the_change_window_closes_ten_minutes_before_send_at() -> None:
    assert send_windows.change_window_open(None, SEND_AT)
    assert send_windows.change_window_open(SEND_AT, SEND_AT - 600)
    assert not send_windows.change_window_open(SEND_AT, SEND_AT - 599)
    assert send_windows.window_closes_at(SEND_AT) == SEND_AT - 600


@pytest.mark.parametrize(
    ("restated", "now", "refused"),
    [
        (SEND_AT + HOUR, SEND_AT - 601, False),  # later, while the recorded window is open: a correction
        (SEND_AT + HOUR, SEND_AT - 600, False),
        (SEND_AT + HOUR, SEND_AT - 599, True),  # later, once the recorded window has closed: refused
        (SEND_AT + 1, SEND_AT + HOUR, True),
        (SEND_AT, SEND_AT - 60, False),  # the same send_at: the ordinary window rule decides
        (SEND_AT - HOUR, SEND_AT - 60, False),  # earlier: its own (earlier) window decides
        (None, SEND_AT - 60, False),  # not restated
    ],
)
def test_send_at_moves_later_only_while_the_recorded_window_is_open(restated, now, refused: bool) -> None:
    assert send_windows.restated_send_at_reopens_window(SEND_AT, restated, now) is refused
    assert not send_windows.restated_send_at_reopens_window(
        None, restated, now
    )  # nothing recorded: nothing to step round


def test_send_at_must_be_within_72_hours_either_side_of_now() -> None:
    now = SEND_AT
    assert send_windows.send_at_problem(now + 72 * HOUR, now) is None
    assert "more than 72 hours ahead" in send_windows.send_at_problem(now + 72 * HOUR + 1, now)
    assert send_windows.send_at_problem(now - 72 * HOUR, now) is None
    assert "in the past" in send_windows.send_at_problem(now - 72 * HOUR - 1, now)


def test_a_paused_batch_expires_72_hours_after_send_at() -> None:
    assert _paused().expires_at == SEND_AT + 72 * HOUR


@pytest.mark.parametrize(
    ("hours_left", "warned", "expected"),
    [
        (30, (), ()),
        (24, (), (24 * HOUR,)),
        (5, (), (24 * HOUR, 6 * HOUR)),  # a late first look announces every crossed threshold once
        (5, (24 * HOUR,), (6 * HOUR,)),
        (0.5, THRESHOLDS, ()),
    ],
)
def test_warnings_are_planned_once_per_crossed_threshold(hours_left, warned, expected) -> None:
    batch = _paused(warned=warned)
    now = int(batch.expires_at - hours_left * HOUR)
    assert scan_plan.plan(batch, now, THRESHOLDS, LEAD).warn == expected


def test_expiry_action_is_planned_within_the_lead_and_only_once() -> None:
    batch = _paused(expiry_action="resume", warned=THRESHOLDS)
    assert scan_plan.plan(batch, batch.expires_at - LEAD - 1, THRESHOLDS, LEAD).act is None
    assert scan_plan.plan(batch, batch.expires_at - LEAD, THRESHOLDS, LEAD).act == "resume"
    assert (
        scan_plan.plan(_paused(expiry_action="resume", action_taken="resume"), batch.expires_at - 60, (), LEAD).act
        is None
    )


def test_expired_and_cancelled_batches_are_reclaimed_only_after_a_grace_period() -> None:
    paused = _paused(last_send_at=SEND_AT)
    assert not scan_plan.plan(paused, paused.expires_at, THRESHOLDS, LEAD).expire
    assert scan_plan.plan(paused, paused.expires_at + scan_plan.RECLAIM_GRACE_SECONDS, THRESHOLDS, LEAD).expire
    cancelled = Batch("parent", "c", "o", status="cancel", send_at=SEND_AT, last_send_at=SEND_AT)
    assert not scan_plan.plan(cancelled, SEND_AT, THRESHOLDS, LEAD).reclaim
    assert scan_plan.plan(cancelled, SEND_AT + scan_plan.RECLAIM_GRACE_SECONDS, THRESHOLDS, LEAD).reclaim
    assert scan_plan.reclaimable(cancelled, SEND_AT + scan_plan.RECLAIM_GRACE_SECONDS)
    assert not scan_plan.reclaimable(paused, SEND_AT)


def test_a_slot_is_never_reclaimed_without_the_stated_last_send_at() -> None:
    """One batch id may group sends at several times: the earliest send_at says nothing of the later ones."""
    much_later = SEND_AT + 30 * 24 * HOUR
    paused, cancelled = _paused(), Batch("parent", "c", "o", status="cancel", send_at=SEND_AT)
    assert (
        not scan_plan.reclaimable(paused, much_later)
        and not scan_plan.plan(paused, much_later, THRESHOLDS, LEAD).expire
    )
    assert not scan_plan.reclaimable(cancelled, much_later)
    assert not scan_plan.plan(cancelled, much_later, THRESHOLDS, LEAD).reclaim
    several = _paused(last_send_at=SEND_AT + 48 * HOUR)
    assert not scan_plan.reclaimable(
        several, paused.expires_at + scan_plan.RECLAIM_GRACE_SECONDS
    )  # a later mail is held
    assert scan_plan.reclaimable(several, several.last_expires_at + scan_plan.RECLAIM_GRACE_SECONDS)


def test_a_finished_batch_whose_entry_was_left_holds_its_slot_until_its_status_changes() -> None:
    """SlotReclaim=notify leaves SendGrid's entry: its slot stays taken (counted, shown reclaimable), not due again."""
    cancelled = Batch("parent", "c", "o", status="cancel", send_at=SEND_AT, last_send_at=SEND_AT)
    left = replace(cancelled.with_status("discarded", SEND_AT + HOUR), entry_left=True)
    assert left.holds_slot and scan_plan.reclaimable(left, SEND_AT + HOUR)
    assert not replace(left, entry_left=False).holds_slot  # auto mode: the entry was deleted
    assert scan_plan.plan(left, SEND_AT + HOUR, THRESHOLDS, LEAD) == scan_plan.Plan()
    assert scan_plan.next_due(left, THRESHOLDS, LEAD) is None  # announced once, not every run
    resumed = left.with_status(None, SEND_AT + 2 * HOUR)
    assert (resumed.entry_left, resumed.holds_slot) == (False, False)
    paused_again = left.with_status("pause", SEND_AT + 2 * HOUR)
    assert (paused_again.entry_left, paused_again.held_since) == (False, SEND_AT + 2 * HOUR)  # a new episode


def test_without_send_at_a_held_batch_is_watched_against_its_earliest_possible_expiry() -> None:
    paused_at = SEND_AT
    batch = Batch("parent", "b", "o").with_status("pause", paused_at)
    assert batch.expires_at == paused_at + 72 * HOUR - 10 * 60
    assert batch.expires_at_basis == "earliest_possible"
    assert scan_plan.plan(batch, batch.expires_at - 5 * HOUR, THRESHOLDS, LEAD).warn == (24 * HOUR, 6 * HOUR)
    assert scan_plan.next_due(batch, THRESHOLDS, LEAD) == batch.expires_at - 24 * HOUR
    # pause -> cancel -> pause keeps the mail held throughout: the earliest expiry does not move later
    assert batch.with_status("cancel", paused_at + HOUR).with_status("pause", paused_at + 2 * HOUR).held_since == (
        paused_at
    )
    # a resume ends the episode: a later pause is watched afresh
    again = (
        replace(batch, warned=THRESHOLDS).with_status(None, paused_at + HOUR).with_status("pause", paused_at + 2 * HOUR)
    )
    assert (again.held_since, again.warned) == (paused_at + 2 * HOUR, ())
    assert _paused().expires_at_basis == "send_at"


def test_a_hold_found_by_reconcile_is_watched_from_the_previous_list_or_as_if_it_could_expire_now() -> None:
    listed_at = SEND_AT
    assert send_windows.found_held_since(listed_at - 6 * HOUR, listed_at) == listed_at - 6 * HOUR
    never_listed = send_windows.found_held_since(None, listed_at)
    assert send_windows.earliest_possible_expiry(never_listed) == listed_at  # it may be 72 hours old already
    assert send_windows.found_held_since(listed_at + 1, listed_at) == never_listed  # a "previous" list from the future
    found = Batch("parent", "b", None).with_status("pause", listed_at + 5, listed_at - 6 * HOUR)
    assert (found.held_since, found.status_at) == (listed_at - 6 * HOUR, listed_at + 5)
    # held_from only starts an episode: a batch already held keeps its own start
    held = Batch("parent", "b", "o").with_status("cancel", listed_at - HOUR)
    assert held.with_status("pause", listed_at, listed_at - 6 * HOUR).held_since == listed_at - HOUR


def test_next_due_is_the_earliest_pending_step_and_none_when_nothing_is_left() -> None:
    batch = _paused(expiry_action="cancel", last_send_at=SEND_AT)
    assert scan_plan.next_due(batch, THRESHOLDS, LEAD) == batch.expires_at - 24 * HOUR
    assert scan_plan.next_due(_paused(warned=THRESHOLDS, last_send_at=SEND_AT), THRESHOLDS, LEAD) == (
        batch.expires_at + scan_plan.RECLAIM_GRACE_SECONDS
    )
    assert scan_plan.next_due(_paused(warned=THRESHOLDS), THRESHOLDS, LEAD) is None  # no reclaim on the earliest
    assert scan_plan.next_due(_paused(warned=THRESHOLDS, expiry_action="resume"), THRESHOLDS, LEAD) == (
        batch.expires_at - LEAD
    )
    assert (
        scan_plan.next_due(Batch("parent", "b", "o", status="pause"), THRESHOLDS, LEAD) is None
    )  # holds nothing known
    assert scan_plan.next_due(Batch("parent", "b", "o", status=None, send_at=SEND_AT), THRESHOLDS, LEAD) is None
    assert scan_plan.next_due(Batch("parent", "b", "o", status="expired", send_at=SEND_AT), THRESHOLDS, LEAD) is None
    assert scan_plan.next_due(_paused(lease_until=SEND_AT + 5), THRESHOLDS, LEAD) == SEND_AT + 5  # taken over then


EXPIRY = SEND_AT + send_windows.EXPIRY_SECONDS


def _work(batch_id: str, **changes) -> Batch:
    """A paused row (send_at: SEND_AT unless changed)."""
    return replace(_paused(), batch_id=batch_id, **changes)


def test_warnings_are_worked_before_what_waits_on_sendgrid_each_group_in_the_order_it_came() -> None:
    now = EXPIRY - 10 * 60
    reclaim = Batch("parent", "reclaim", "o", status="cancel", send_at=SEND_AT, last_send_at=SEND_AT)
    act = _work("act", expiry_action="cancel", warned=THRESHOLDS)
    warn = _work("warn", warned=(24 * HOUR, 6 * HOUR))
    expire = _work(
        "expire", send_at=SEND_AT - send_windows.EXPIRY_SECONDS, last_send_at=SEND_AT - send_windows.EXPIRY_SECONDS
    )
    warn_too = _work("warn-too")
    due = [reclaim, act, warn, expire, warn_too]  # as read: oldest due first

    def order(frees_slots: bool) -> list[str]:
        return [b.batch_id for b in scan_plan.work_order(due, now, THRESHOLDS, LEAD, frees_slots=frees_slots)]

    assert order(frees_slots=True) == ["warn", "warn-too", "reclaim", "act", "expire"]
    # SlotReclaim=notify: freeing a slot only publishes, so only the expiry action waits on SendGrid.
    assert order(frees_slots=False) == ["reclaim", "warn", "expire", "warn-too", "act"]


def test_only_expiry_actions_and_slots_freed_at_sendgrid_call_it() -> None:
    assert not scan_plan.calls_sendgrid(scan_plan.Plan(warn=(HOUR,)), frees_slots=True)
    assert scan_plan.calls_sendgrid(scan_plan.Plan(warn=(HOUR,), act="resume"), frees_slots=False)
    assert scan_plan.calls_sendgrid(scan_plan.Plan(expire=True), frees_slots=True)
    assert scan_plan.calls_sendgrid(scan_plan.Plan(reclaim=True), frees_slots=True)
    assert not scan_plan.calls_sendgrid(scan_plan.Plan(expire=True), frees_slots=False)
    assert not scan_plan.calls_sendgrid(scan_plan.Plan(reclaim=True), frees_slots=False)


def test_failed_work_is_retried_after_a_backoff_not_at_its_old_due_time() -> None:
    cancelled = Batch("parent", "c", "o", status="cancel", send_at=SEND_AT, last_send_at=SEND_AT)
    now = SEND_AT + 6 * HOUR  # its reclaim has been due for hours
    retry_at = scan_plan.retry_after(cancelled, now, THRESHOLDS, LEAD)
    assert retry_at == now + scan_plan.RETRY_BACKOFF_SECONDS
    assert scan_plan.next_due(replace(cancelled, retry_at=retry_at), THRESHOLDS, LEAD) == retry_at
    # No mail deadline once a paused batch has expired: expiring it and freeing its slot back off too.
    expired = _paused(warned=THRESHOLDS, last_send_at=SEND_AT)
    assert (
        scan_plan.retry_after(expired, EXPIRY + HOUR, THRESHOLDS, LEAD)
        == EXPIRY + HOUR + scan_plan.RETRY_BACKOFF_SECONDS
    )


def test_a_backoff_never_delays_a_step_not_yet_due() -> None:
    """A failure of the 24 h warning 10 seconds before the 6 h one is due (thresholds set close together here)."""
    thresholds = (6 * HOUR + 10, 6 * HOUR)
    now = EXPIRY - 6 * HOUR - 10
    assert scan_plan.retry_after(_paused(), now, thresholds, LEAD) == now + 10


def test_a_failed_expiry_action_is_retried_before_the_expiry() -> None:
    backoff = scan_plan.RETRY_BACKOFF_SECONDS
    batch = _paused(expiry_action="resume", warned=THRESHOLDS, last_send_at=SEND_AT)
    for seconds_left, retried_in in (
        (LEAD - 60, backoff),  # time enough: the whole backoff
        (backoff + 10, 10),  # never later than the backoff before expiry ...
        (backoff, 0),  # ... and at once when no more is left
        (5, 0),
    ):
        now = EXPIRY - seconds_left
        retry_at = scan_plan.retry_after(batch, now, THRESHOLDS, LEAD)
        assert retry_at == now + retried_in, seconds_left
        assert scan_plan.next_due(replace(batch, retry_at=retry_at), THRESHOLDS, LEAD) == retry_at < EXPIRY


def test_a_backoff_holds_a_row_back_only_until_its_retry() -> None:
    batch = _paused(warned=(24 * HOUR,), retry_at=EXPIRY - 8 * HOUR)  # the 6 h warning comes after the retry
    assert scan_plan.next_due(batch, THRESHOLDS, LEAD) == EXPIRY - 6 * HOUR
    assert scan_plan.next_due(replace(batch, lease_until=EXPIRY - 9 * HOUR), THRESHOLDS, LEAD) == EXPIRY - 9 * HOUR
    again = replace(batch, status=None).with_status("pause", EXPIRY - 7 * HOUR)  # a new episode starts afresh
    assert again.retry_at is None


A, B = "arn:aws:iam::1:role/team-a", "arn:aws:iam::1:role/team-b"


@pytest.mark.parametrize(
    ("held", "owner", "is_admin", "refused_by"),
    [
        ([], A, False, None),
        ([A] * 7, A, False, None),
        ([A] * 8, A, False, slot_quota.TEAM_QUOTA),  # a principal holds at most SlotsPerTeam (8) in an account
        ([A] * 8, B, False, None),  # ... which leaves room for the others
        ([A] * 8 + [B], B, False, slot_quota.ADMIN_RESERVE),  # non-admins hold at most 9 together
        ([A] * 4 + [B] * 4 + [None], B, False, slot_quota.ADMIN_RESERVE),  # unowned slots count toward the total
        ([A] * 8 + [B], "arn:aws:iam::1:role/ops", True, None),  # the 10th: an emergency stop is always possible
        ([A] * 8 + [B] * 2, "arn:aws:iam::1:role/ops", True, slot_quota.SENDGRID_LIMIT),  # admins: only SendGrid's 10
        ([A] * 8 + [B] * 2, B, False, slot_quota.SENDGRID_LIMIT),  # SendGrid's 10 is named first: nobody can get one
        (
            ["arn:aws:iam::1:role/teams/team-a"] * 8,
            "arn:aws:sts::1:assumed-role/team-a/s1",
            False,
            slot_quota.TEAM_QUOTA,
        ),
    ],
)
def test_which_rule_refuses_one_more_slot(held, owner: str, is_admin: bool, refused_by: str | None) -> None:
    assert slot_quota.slot_refusal(held, ownership.owner_of(owner), is_admin, slots_per_team=8) == refused_by


def test_the_team_quota_is_a_setting_and_the_admin_reserve_still_applies_above_it() -> None:
    assert slot_quota.slot_refusal([A] * 3, A, False, slots_per_team=3) == slot_quota.TEAM_QUOTA
    assert slot_quota.slot_refusal([A] * 2, A, False, slots_per_team=3) is None
    assert slot_quota.slot_refusal([A] * 9, A, False, slots_per_team=10) == slot_quota.ADMIN_RESERVE
    assert slot_quota.MAX_ACTIVE_BATCHES - slot_quota.ADMIN_RESERVED_SLOTS == 9
