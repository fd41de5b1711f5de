"""Prometheus text-format metrics after every run (`metrics_file`), for node_exporter's textfile collector or
any scraper. Written to a temporary file and renamed, so a scrape never sees half a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from syncd.models import ChangeResult, Health, Plan
from syncd.plan_file import write_atomically


@dataclass(frozen=True)
class RunMetrics:
    finished: datetime
    exit_code: int
    duration_seconds: float
    dry_run: bool
    seats_before: int | None = None
    seats_after: int | None = None
    seat_limit: int | None = None
    changes: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (action, outcome) → count
    held: int = 0
    blocked: int = 0
    groups_not_ok: int = 0


def of_run(
    *,
    finished: datetime,
    exit_code: int,
    duration_seconds: float,
    dry_run: bool,
    plan: Plan | None,
    seats_after: int | None,
    results: Sequence[ChangeResult],
) -> RunMetrics:
    """The metrics of one run; `plan` is None when the run stopped before planning."""
    changes: dict[tuple[str, str], int] = {}
    for r in results:
        label = (r.change.action.value, r.outcome.value)
        changes[label] = changes.get(label, 0) + 1
    return RunMetrics(
        finished=finished,
        exit_code=exit_code,
        duration_seconds=duration_seconds,
        dry_run=dry_run,
        seats_before=plan.seats_before if plan else None,
        seats_after=seats_after,
        seat_limit=plan.seat_limit if plan else None,
        changes=changes,
        held=len(plan.held) if plan else 0,
        blocked=len(plan.blocked) if plan else 0,
        groups_not_ok=sum(1 for g in plan.groups if g.health is not Health.OK) if plan else 0,
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    """Exact: an integer as written, a float by repr (shortest round-trip). `{:g}` kept six digits, so a
    Unix timestamp came out as 1.79621e+09 — up to ~80 minutes off, enough to make a staleness alert late."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def render(metrics: RunMetrics) -> str:
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

    gauge(
        "syncd_last_run_timestamp_seconds",
        "When the last run finished (Unix time).",
        [("", metrics.finished.timestamp())],
    )
    gauge(
        "syncd_last_run_exit_code",
        "Exit code of the last run (0 ok, 3 guard, 4 partial, 5 unreachable).",
        [("", metrics.exit_code)],
    )
    gauge(
        "syncd_last_run_success", "1 when the last run exited 0.", [("", 1 if metrics.exit_code == 0 else 0)]
    )
    gauge("syncd_last_run_duration_seconds", "Wall time of the last run.", [("", metrics.duration_seconds)])
    gauge(
        "syncd_last_run_dry_run",
        "1 when the last run changed nothing by design.",
        [("", int(metrics.dry_run))],
    )
    if metrics.seats_before is not None and metrics.seats_after is not None:
        gauge(
            "syncd_seats",
            "Seats held before and after the last run.",
            [('{when="before"}', metrics.seats_before), ('{when="after"}', metrics.seats_after)],
        )
    if metrics.seat_limit is not None:
        gauge("syncd_seat_limit", "The seat limit in force.", [("", metrics.seat_limit)])
    gauge(
        "syncd_last_run_changes",
        "Changes of the last run by action and outcome.",
        [
            (f'{{action="{_escape(a)}",outcome="{_escape(o)}"}}', n)
            for (a, o), n in sorted(metrics.changes.items())
        ],
    )
    gauge(
        "syncd_held_changes", "Removals and downgrades held (grace, unhealthy groups).", [("", metrics.held)]
    )
    gauge("syncd_blocked_assignments", "Assignments blocked by the seat limit.", [("", metrics.blocked)])
    gauge(
        "syncd_groups_not_ok",
        "Groups whose last read was not ok (their removals are held).",
        [("", metrics.groups_not_ok)],
    )
    return "\n".join(lines) + "\n"


def write(path: Path, metrics: RunMetrics) -> None:
    write_atomically(path, render(metrics))
