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


Labels = tuple[tuple[str, str], ...]
Family = tuple[str, str, list[tuple[Labels, float]]]  # name, help text, samples

# what a run with several targets also says once for the whole run (the worst exit code), without a label,
# so one alert rule covers every target
RUN_TOTALS = ("syncd_last_run_timestamp_seconds", "syncd_last_run_exit_code", "syncd_last_run_success")


def _families(metrics: RunMetrics) -> list[Family]:
    families: list[Family] = [
        (
            "syncd_last_run_timestamp_seconds",
            "When the last run finished (Unix time).",
            [((), metrics.finished.timestamp())],
        ),
        (
            "syncd_last_run_exit_code",
            "Exit code of the last run (0 ok, 3 guard, 4 partial, 5 unreachable).",
            [((), metrics.exit_code)],
        ),
        (
            "syncd_last_run_success",
            "1 when the last run exited 0.",
            [((), 1 if metrics.exit_code == 0 else 0)],
        ),
        ("syncd_last_run_duration_seconds", "Wall time of the last run.", [((), metrics.duration_seconds)]),
        (
            "syncd_last_run_dry_run",
            "1 when the last run changed nothing by design.",
            [((), int(metrics.dry_run))],
        ),
    ]
    if metrics.seats_before is not None and metrics.seats_after is not None:
        families.append(
            (
                "syncd_seats",
                "Seats held before and after the last run.",
                [((("when", "before"),), metrics.seats_before), ((("when", "after"),), metrics.seats_after)],
            )
        )
    if metrics.seat_limit is not None:
        families.append(("syncd_seat_limit", "The seat limit in force.", [((), metrics.seat_limit)]))
    families += [
        (
            "syncd_last_run_changes",
            "Changes of the last run by action and outcome.",
            [((("action", a), ("outcome", o)), n) for (a, o), n in sorted(metrics.changes.items())],
        ),
        (
            "syncd_held_changes",
            "Removals and downgrades held (grace, unhealthy groups).",
            [((), metrics.held)],
        ),
        ("syncd_blocked_assignments", "Assignments blocked by the seat limit.", [((), metrics.blocked)]),
        (
            "syncd_groups_not_ok",
            "Groups whose last read was not ok (their removals are held).",
            [((), metrics.groups_not_ok)],
        ),
    ]
    return families


def _sample(name: str, labels: Labels, value: float) -> str:
    text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels)
    return f"{name}{{{text}}} {_number(value)}" if labels else f"{name} {_number(value)}"


def render(metrics: RunMetrics) -> str:
    lines: list[str] = []
    for name, help_text, samples in _families(metrics):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        lines += [_sample(name, labels, value) for labels, value in samples]
    return "\n".join(lines) + "\n"


def render_targets(per_target: Mapping[str, RunMetrics], run: RunMetrics) -> str:
    """Several targets' metrics in one text: each metric's HELP/TYPE once (the exposition format wants a
    family's lines together), its samples for every target with `target="name"` first among the labels, then
    the run-wide sample of the RUN_TOTALS metrics."""
    helps: dict[str, str] = {}
    samples: dict[str, list[str]] = {}
    for target, metrics in per_target.items():
        for name, help_text, family in _families(metrics):
            helps.setdefault(name, help_text)
            samples.setdefault(name, []).extend(
                _sample(name, (("target", target), *labels), value) for labels, value in family
            )
    for name, _help, family in _families(run):
        if name in RUN_TOTALS:
            samples.setdefault(name, []).extend(_sample(name, labels, value) for labels, value in family)
    lines: list[str] = []
    for name, help_text in helps.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples[name]]
    return "\n".join(lines) + "\n"


def write(path: Path, metrics: RunMetrics) -> None:
    write_atomically(path, render(metrics))
