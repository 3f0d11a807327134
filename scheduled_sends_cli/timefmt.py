"""Durations as people write them ("1h", "90m", "2d") and times as people read them ("47 min left", local time)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from scheduled_sends.domain import ops_view

_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def duration_seconds(text: str) -> int:
    """ "1h", "90m", "2d", "1h30m" or plain seconds ("3600"), as whole seconds; ValueError otherwise."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    found = _DURATION.fullmatch(text) if text else None
    if not found or not any(found.groupdict().values()):
        raise ValueError(f"a duration is written 1h, 90m, 2d, 1h30m or in seconds, not {text!r}")
    return sum(int(amount) * _UNIT_SECONDS[unit] for unit, amount in found.groupdict().items() if amount)


def span(seconds: int) -> str:
    """ "45 s", "47 min", "2 h 5 min", "47 h", "3 d 4 h": the service's wording, in hours up to two days."""
    return ops_view.span(seconds, days_from_hours=48)


def time_left(seconds: int | float | None) -> str:
    """ "47 min left", "2 h 5 min left", "3 d 4 h left"; "expired 5 min ago" once past; "-" when unknown."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 0:
        return f"expired {span(-seconds)} ago"
    return f"{span(seconds)} left"


def local_time(epoch: int | float | None, zone: tzinfo | None = None) -> str:
    """The moment in the operator's time zone (or `zone`), with the zone's name: "2026-12-04 14:03 CET"."""
    if epoch is None:
        return "-"
    moment = datetime.fromtimestamp(epoch, tz=UTC).astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def iso_utc(epoch: int | float | None) -> str | None:
    """ISO-8601 UTC with a Z, as the service writes it beside epoch seconds."""
    return None if epoch is None else ops_view.iso(int(epoch))
