"""When a batch sends, expires and may still be changed, pure: SendGrid's 10-minute change window, the 72-hour
schedule horizon and expiry, the checks of stated send times, and the earliest possible expiry of a batch whose
send time nobody told us. Times are unix seconds.
"""

from __future__ import annotations

CHANGE_WINDOW_SECONDS = 10 * 60  # a pause/cancel later than 10 minutes before send_at is not guaranteed
EXPIRY_SECONDS = 72 * 3600  # a paused batch is discarded as Expired 72 hours after send_at
MAX_SCHEDULE_AHEAD_SECONDS = 72 * 3600  # send_at is at most 72 hours ahead
EXPIRES_AT_BASES = ("send_at", "earliest_possible")


def expires_at(send_at: int) -> int:
    return send_at + EXPIRY_SECONDS


def window_closes_at(send_at: int) -> int:
    return send_at - CHANGE_WINDOW_SECONDS


def change_window_open(send_at: int | None, now: int) -> bool:
    return send_at is None or now <= window_closes_at(send_at)


def restated_send_at_reopens_window(recorded: int | None, restated: int | None, now: int) -> bool:
    """A pause or cancel that restates `send_at` later than the recorded one is a correction only while the
    recorded window is open; once it has closed, a later `send_at` would step round the 10-minute rule (SendGrid
    may already be sending at the recorded time), so it is refused. An earlier or equal `send_at` is judged by
    its own window."""
    if recorded is None or restated is None or restated <= recorded:
        return False
    return not change_window_open(recorded, now)


def send_at_problem(send_at: int, now: int) -> str | None:
    """Why `send_at` cannot belong to a batch being scheduled now, or None when it can."""
    if send_at > now + MAX_SCHEDULE_AHEAD_SECONDS:
        return "send_at is more than 72 hours ahead; SendGrid cannot schedule that far"
    if send_at < now - EXPIRY_SECONDS:
        return "send_at is more than 72 hours in the past; the batch has already been sent or expired"
    return None


def send_times_problem(send_at: int | None, last_send_at: int | None) -> str | None:
    """Why the stated earliest and latest send_at cannot both hold, or None."""
    if send_at is not None and last_send_at is not None and last_send_at < send_at:
        return "last_send_at is before send_at; send_at is the batch's earliest send, last_send_at its latest"
    return None


def earliest_possible_expiry(held_since: int) -> int:
    """When SendGrid could discard, at the earliest, a mail held by a pause or cancel set at `held_since`
    whose `send_at` nobody told us. A mail still held at `held_since` was not sent before: a pause is honoured
    when set up to 10 minutes before `send_at` (and may be later), so `send_at` >= `held_since` - 10 minutes
    and expiry (`send_at` + 72 h) >= `held_since` + 72 h - 10 minutes. The 10 minutes are subtracted: a
    warning a little early is harmless, a late one is what this service exists to prevent."""
    return held_since - CHANGE_WINDOW_SECONDS + EXPIRY_SECONDS


def found_held_since(previous_list_at: int | None, listed_at: int) -> int:
    """Since when, at the earliest, SendGrid has held a pause or cancel that reconcile found in its list at
    `listed_at` and nobody told us of (its answer was lost, or it was set outside the service). The account's
    previous list did not show it, so it was set after that list. With no earlier list it may be up to 72
    hours old: the earliest possible expiry is then `listed_at` itself, and every warning is due at once. A
    later estimate would be worse than an early warning: the batch could expire before its first one."""
    if previous_list_at is not None and previous_list_at <= listed_at:
        return previous_list_at
    return listed_at + CHANGE_WINDOW_SECONDS - EXPIRY_SECONDS
