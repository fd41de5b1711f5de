"""Is this run's clock believable? (issue 21)

Time decides three things in syncd: when a grace period ends, which audit files retention deletes, and
whether a reviewed plan is too old. One run with a wrong clock could skip grace (a clock behind when a leaver
is first seen), stretch it (a clock ahead), or delete the whole audit trail (500 days ahead). Every audited
run records its start; the next run compares its clock with the latest *trusted* start. Earlier than that
(beyond a small skew), or further ahead than `[clock] max_ahead`, the clock is suspect: it is reported, and
the time-based decisions are refused until an operator confirms the clock with `--accept-clock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from syncd.config_section import Section

DEFAULT_SKEW = timedelta(minutes=5)
DEFAULT_MAX_AHEAD = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ClockPolicy:
    skew: timedelta = DEFAULT_SKEW  # how far behind the last run's start a clock may read
    max_ahead: timedelta = DEFAULT_MAX_AHEAD  # a longer gap since the last run's start is a clock jump


def parse_clock(section: Section) -> ClockPolicy:
    skew = section.duration("skew", "5m")
    max_ahead = section.duration("max_ahead", "30d")
    section.finish()
    if max_ahead is not None and max_ahead <= timedelta(0):
        section.error("max_ahead", "must be longer than 0s")
    return ClockPolicy(
        skew if skew is not None else DEFAULT_SKEW, max_ahead if max_ahead is not None else DEFAULT_MAX_AHEAD
    )


def suspect(now: datetime, last_start: datetime | None, policy: ClockPolicy) -> str | None:
    """Why this clock is not believed, or None."""
    if last_start is None:
        return None
    stamp = "%Y-%m-%d %H:%M:%S UTC"
    if now < last_start - policy.skew:
        return (
            f"the clock reads {now:{stamp}}, {_span(last_start - now)} before the start of the last run "
            f"({last_start:{stamp}})"
        )
    if now > last_start + policy.max_ahead:
        return (
            f"the clock reads {now:{stamp}}, {_span(now - last_start)} after the start of the last run "
            f"({last_start:{stamp}}), more than [clock] max_ahead"
        )
    return None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{seconds // 60} minutes"
