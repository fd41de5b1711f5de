"""The conditions a run can be in that someone should hear about, judged from the run's facts.

Each condition has a `key` (what it is about, for de-duplication) and a `fingerprint` (what it looks like
now: a changed fingerprint is news and alerts at once). A run also says which events it *judged*: a
condition it judged absent is over (`recovered`); one it could not judge (a run that failed before reading
anything cannot tell whether a group is still missing) stays as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from syncd.errors import ExitCode
from syncd.models import Health, Plan

FAILED_CODES = frozenset({ExitCode.INTERNAL, ExitCode.CONFIG, ExitCode.UNREACHABLE, ExitCode.LOCKED})
COMPLETED_CODES = frozenset({ExitCode.OK, ExitCode.PARTIAL})  # the cycle ran to its end
LISTED = 20  # people or lines named in one message


@dataclass(frozen=True)
class Condition:
    event: str
    key: str
    fingerprint: str
    title: str
    cost: str
    details: tuple[str, ...]
    command: str


@dataclass(frozen=True)
class RunFacts:
    """What one finished `run`/`apply` tells the alerts: its exit code, and its plan when it got that far."""

    run_id: str | None
    exit_code: int
    config: str
    error: str = ""  # the one-line error of a run that stopped
    plan: Plan | None = None
    seats_after: int | None = None
    problems: tuple[str, ...] = ()


def judge(facts: RunFacts, near_percent: float) -> tuple[list[Condition], frozenset[str]]:
    """The conditions present after this run, and the events the run judged."""
    config = facts.config
    status = f"syncd status -c {config}"
    found: list[Condition] = []
    code = facts.exit_code
    if code in FAILED_CODES:
        first = facts.error or (facts.problems[0] if facts.problems else "")
        found.append(
            Condition(
                "failed",
                "failed",
                f"exit {code}: {_shape(first)}",
                f"run failed (exit {code}): {first}",
                "seats are not kept in step until this is fixed: joiners wait, leavers keep paid seats",
                facts.problems[:LISTED],
                f"{status}  (and the dated diagnostic log beside the audit log)",
            )
        )
    if code == ExitCode.GUARD:
        found.append(
            Condition(
                "guard-stop",
                "guard-stop",
                _shape(facts.error),
                "a safety guard stopped the run; nothing was applied",
                "no change at all is applied until the plan is reviewed",
                (facts.error,),
                f"syncd audit -c {config} --action guard-stop --since 1d",
            )
        )
    judged = {"failed", "guard-stop"}
    plan = facts.plan
    if plan is None or code not in COMPLETED_CODES:
        return found, frozenset(judged)
    judged |= {"held", "seat-blocked", "seat-limit-near", "stale"}
    found += _held(plan, config) + _seats(plan, facts.seats_after, near_percent, status)
    return found, frozenset(judged)


def _held(plan: Plan, config: str) -> list[Condition]:
    bad = [g for g in plan.groups if g.health is not Health.OK]
    if not bad:
        return []
    held = [h for h in plan.held if h.cause != "grace"]
    names = ", ".join(f"{g.group!r} of {g.source} ({g.health.value})" for g in bad[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    return [
        Condition(
            "held",
            "held",
            ";".join(sorted(f"{g.source}/{g.group}:{g.health.value}" for g in bad)),
            f"work held: group {names}{more} not read cleanly",
            f"{len(held)} removal(s)/downgrade(s) held; assignments from these groups' rules wait",
            tuple(
                f"{g.source}: {g.group} is {g.health.value}{': ' + g.detail if g.detail else ''}"
                for g in bad[:LISTED]
            ),
            f"syncd plan -c {config}",
        )
    ]


def _seats(plan: Plan, seats_after: int | None, near_percent: float, status: str) -> list[Condition]:
    found: list[Condition] = []
    limit = plan.seat_limit
    if plan.blocked:
        people = [c.email for c in plan.blocked]
        found.append(
            Condition(
                "seat-blocked",
                "seat-blocked",
                str(len(people)),
                f"{len(people)} assignment(s) blocked by the seat limit of {limit}",
                f"{len(people)} people wait for a seat",
                tuple(people[:LISTED]) + _more(len(people)),
                status,
            )
        )
    seats = plan.seats_after if seats_after is None else seats_after
    if limit and seats * 100.0 >= near_percent * limit:
        found.append(
            Condition(
                "seat-limit-near",
                "seat-limit-near",
                f"{limit}:{seats >= limit}",
                f"seats at {seats} of the limit of {limit} ({100.0 * seats / limit:.0f}%)",
                f"{max(0, limit - seats)} seat(s) left before assignments are blocked",
                (),
                status,
            )
        )
    return found


def stale(last_completed: datetime | None, now: datetime, after: timedelta, config: str) -> Condition | None:
    """No run has completed for longer than `after`. Never stale before the first run ever completed: a
    fresh set-up is not an outage (and the first run's own failure alerts as `failed`)."""
    if last_completed is None or now - last_completed <= after:
        return None
    gap = now - last_completed
    hours = gap.total_seconds() / 3600
    return Condition(
        "stale",
        "stale",
        "stale",
        f"no run has completed for {hours:.1f} h (last at {last_completed:%Y-%m-%d %H:%M} UTC)",
        "seats are not kept in step while no run completes: joiners wait, leavers keep paid seats",
        (f"expected a completed run at least every {_duration(after)}",),
        f"syncd status -c {config}  (and the scheduler's history of the task)",
    )


def _more(count: int) -> tuple[str, ...]:
    return (f"… and {count - LISTED} more",) if count > LISTED else ()


def _shape(text: str) -> str:
    """A message without its numbers (seconds, counts): the same failure keeps the same fingerprint."""
    return re.sub(r"\d+", "#", text)[:200]


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"
