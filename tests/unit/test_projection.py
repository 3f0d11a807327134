"""A row's projection (`domain.projection`) agrees with the domain's own rules at every moment a pause or cancel can
be recorded on it: what `BatchStore.record_projected` copies is what the read-based record would have written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scheduled_sends.domain import projection
from scheduled_sends.domain.batch import ACTIVE_STATUSES, Batch
from scheduled_sends.domain.scan_plan import next_due
from scheduled_sends.domain.send_windows import (
    EXPIRY_SECONDS,
    MAX_SCHEDULE_AHEAD_SECONDS,
    earliest_possible_expiry,
    window_closes_at,
)

NOW = 1_795_000_000
HOUR = 3600

send_ats = st.one_of(st.none(), st.integers(NOW - 2 * HOUR, NOW + 72 * HOUR))
lasts = st.one_of(st.none(), st.integers(NOW - 2 * HOUR, NOW + 80 * HOUR))
thresholds = st.lists(st.integers(60, 72 * HOUR), max_size=4, unique=True)


@given(
    send_at=send_ats,
    last_send_at=lasts,
    expiry_action=st.sampled_from([None, "resume", "cancel"]),
    thresholds=thresholds,
    lead=st.integers(60, 6 * HOUR),
    status=st.sampled_from(ACTIVE_STATUSES),
    moment=st.floats(0, 1),
)
def test_a_projection_agrees_with_the_domain_whenever_the_change_is_recorded(
    send_at: int | None,
    last_send_at: int | None,
    expiry_action: str | None,
    thresholds: list[int],
    lead: int,
    status: str,
    moment: float,
) -> None:
    row = Batch("parent", "b1", "team-a", send_at=send_at, last_send_at=last_send_at, expiry_action=expiry_action)
    made = projection.project(row, thresholds, lead, NOW)
    if made is None or status not in made.due:
        return
    if send_at is None:  # recorded now or any time later
        at = NOW + int(moment * 10 * EXPIRY_SECONDS)
    else:  # after the batch was scheduled, before its window closes
        at = send_at - MAX_SCHEDULE_AHEAD_SECONDS + int(moment * (MAX_SCHEDULE_AHEAD_SECONDS - 600))
        assert at <= window_closes_at(send_at)
    recorded = projection.held(row, status, at)
    expiry = made.expires_at if made.expires_at is not None else earliest_possible_expiry(at)
    assert recorded.expires_at == expiry
    due = made.due[status]
    assert (next_due(recorded, thresholds, lead) or projection.NEVER_DUE) == due.time + (
        expiry if due.from_expiry else 0
    )


def test_a_batch_with_a_stated_send_at_is_projected_for_both_statuses() -> None:
    send_at = NOW + 24 * HOUR
    row = Batch("parent", "b1", "team-a", send_at=send_at, last_send_at=send_at + HOUR, expiry_action="resume")
    made = projection.project(row, (24 * HOUR, HOUR), 15 * 60, NOW)
    assert made is not None
    assert made.expires_at == send_at + EXPIRY_SECONDS
    assert made.due == {
        "pause": projection.Due(send_at + EXPIRY_SECONDS - 24 * HOUR),
        "cancel": projection.Due(send_at + HOUR + 15 * 60),
    }


def test_what_depends_on_the_moment_of_the_change_in_other_ways_is_not_projected() -> None:
    # With no send_at the expiry is counted from the change: a pause's warnings follow it, a cancel is never due.
    unsent = Batch("parent", "b1", "team-a")
    made = projection.project(unsent, (HOUR,), 900, NOW)
    assert made == projection.Projection(
        None, {"pause": projection.Due(-HOUR, from_expiry=True), "cancel": projection.Due(projection.NEVER_DUE)}
    )
    # A stated last_send_at and no send_at: the last mail's reclaim is fixed, the warnings follow the change, and
    # which comes first depends on when the change is made.
    last_only = Batch("parent", "b1", "team-a", last_send_at=NOW + 24 * HOUR)
    assert projection.project(last_only, (HOUR,), 900, NOW) == projection.Projection(None, {})
    early_last = Batch("parent", "b1", "team-a", send_at=NOW + 24 * HOUR, last_send_at=NOW + 24 * HOUR - 60)
    assert projection.project(early_last, (HOUR,), 900, NOW) is None  # send times that disagree


def test_a_row_holding_a_status_has_no_projection() -> None:
    for status in ("pause", "cancel", "expired", "discarded"):
        row = Batch("parent", "b1", "team-a", status=status, send_at=NOW + HOUR)
        assert projection.project(row, (HOUR,), 900, NOW) is None
    left = Batch("parent", "b1", "team-a", entry_left=True, send_at=NOW + HOUR)
    assert projection.project(left, (HOUR,), 900, NOW) is None


def test_the_plan_key_names_the_thresholds_the_lead_and_the_release() -> None:
    key = projection.plan_key((3600, 86400), 900, "1.1.0")
    assert key == projection.plan_key([86400, 3600], 900, "1.1.0") == "3600,86400/900/1.1.0"
    assert key != projection.plan_key((3600, 86400), 600, "1.1.0")
    assert key != projection.plan_key((3600, 86400), 900, "1.2.0")
