"""Several licence targets in one config (issue 19): one run cycles every target in config order.

This is a layer around the single-target `Cycle`, which is unchanged: each target runs as its own cycle on its
own view of the config (`config.for_target`: its rules, roles, seat cap, pricing and state folder, so its own
ledger, lock, guards, baselines and intents). What the targets of one run share is the source reads
(`SharedReads`: a group is read once and every target plans from the same members) and the audit folder (every
event names its target). A target that fails — an exception, a guard, a lock, an unreachable server — does not
stop the others: its exit code is reported with its name, and the run's exit code is the worst of them.

"Worst" orders the documented exit codes by how much they need a person, and how little got done:

    1 internal error > 2 config/usage > 3 guard/refused plan > 5 unreachable > 4 partial > 6 locked > 0 ok

A bug or a config error needs a fix before that target ever runs; a guard needs a review before anything is
applied there; an unreachable peer may clear by itself but nothing (or little) was done; partial means most
was done; locked means another run is doing that target's work now. `plan --detailed-exitcode` returns 10
when every target planned cleanly (0) and at least one has changes pending.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from syncd import metrics, plan_file, plan_set
from syncd.alerts.run import run_with_alerts
from syncd.config import Config, for_target
from syncd.cycle import Cycle, CycleRequest, CycleResult
from syncd.errors import ExitCode, GuardTripped, SyncdError, UsageError
from syncd.models import Outcome
from syncd.plan_file import SavedPlan, write_atomically
from syncd.read_cache import SharedReads
from syncd.reading import opened_target
from syncd.state_location import carry_over, stray_state

log = structlog.get_logger("syncd.multi_target")

SEVERITY: tuple[ExitCode, ...] = (  # most severe first (see the module's docstring)
    ExitCode.INTERNAL,
    ExitCode.CONFIG,
    ExitCode.GUARD,
    ExitCode.UNREACHABLE,
    ExitCode.PARTIAL,
    ExitCode.LOCKED,
    ExitCode.CHANGES_PENDING,
    ExitCode.OK,
)


def worst(codes: Sequence[ExitCode]) -> ExitCode:
    """The most severe of the targets' exit codes (OK for none)."""
    return min(codes, key=SEVERITY.index, default=ExitCode.OK)


def selected(config: Config, only: str | None) -> tuple[str, ...]:
    """The target names a command acts on: all in config order, or the one `--target NAME` names (exit 2
    listing the names for one the config does not have)."""
    names = config.target_names
    if only is None:
        return names
    if only not in names:
        raise UsageError(f"--target {only!r}: the config has no such target (defined: {', '.join(names)})")
    return (only,)


@dataclass(frozen=True)
class TargetOutcome:
    """One target's part of a run: its result, or the one line of the failure that stopped it."""

    name: str
    view: Config
    exit_code: ExitCode
    result: CycleResult | None = None
    error: str = ""
    seconds: float = 0.0

    @property
    def type(self) -> str:
        return self.view.target.type


@dataclass(frozen=True)
class MultiResult:
    outcomes: tuple[TargetOutcome, ...]
    notes: tuple[str, ...] = ()  # about the run as a whole (a state no target can use), before the targets'

    @property
    def exit_code(self) -> ExitCode:
        return worst([o.exit_code for o in self.outcomes])

    def outcome(self, name: str) -> TargetOutcome:
        return next(o for o in self.outcomes if o.name == name)


def run_targets(
    config: Config,
    request: CycleRequest,
    names: Sequence[str],
    *,
    clock: Callable[[], datetime],
    stop: threading.Event | None = None,
    reviewed: Mapping[str, SavedPlan] | None = None,
    alerts: bool = True,
    open_target: Callable[[Config], Any] = opened_target,
) -> MultiResult:
    """Cycle each named target once, in order, sharing the source reads. `reviewed`: each target's part of a
    reviewed plan set (`apply --plan`). `alerts`: per target, as a single-target run has them."""
    stop = stop or threading.Event()
    shared = SharedReads()
    outcomes: list[TargetOutcome] = []
    stray = stray_state_line(config, names)  # said by the caller (commands: with the problems, on stderr)
    for name in names:
        # the run's metrics file is written once, below, with every target in it: no cycle writes its own
        view = replace(for_target(config, name), metrics_file=None)
        if stop.is_set():
            outcomes.append(TargetOutcome(name, view, ExitCode.PARTIAL, error="not started: stop requested"))
            continue
        own = request if reviewed is None else replace(request, reviewed=reviewed[name])
        started = time.monotonic()
        done = _one(view, own, shared, clock, stop, alerts, open_target)
        done = replace(done, seconds=time.monotonic() - started)
        outcomes.append(done)
        log.info(
            "target finished", target=name, exit_code=int(done.exit_code), seconds=round(done.seconds, 3)
        )
    result = MultiResult(tuple(outcomes), () if stray is None else (stray,))
    if config.metrics_file is not None and request.audit:
        _write_metrics(config.metrics_file, result, clock(), dry_run=not request.write)
    return result


def _one(
    view: Config,
    request: CycleRequest,
    shared: SharedReads,
    clock: Callable[[], datetime],
    stop: threading.Event,
    alerts: bool,
    open_target: Callable[[Config], Any],
) -> TargetOutcome:
    name = view.targets[0].name

    def cycle() -> CycleResult:
        # the state the config kept as a single target, if it is this target's: moved under both folders'
        # locks, as for a single target; an unbound one is never taken (see `stray_state_line`)
        carry_over(view.state_dir, view.shared_state_dir, view.target, unbound=False)
        return Cycle(view, clock=clock, stop=stop, reads=shared, open_target=open_target).run(request)

    try:
        result = run_with_alerts(view, cycle, clock) if alerts else cycle()
    except GuardTripped as error:
        return TargetOutcome(name, view, error.exit_code, error=_reviewable(view, error, clock()))
    except SyncdError as error:
        return TargetOutcome(name, view, error.exit_code, error=str(error))
    except Exception as error:  # a bug in one target's cycle must not cost the others their run
        log.exception("target crashed", target=name)
        return TargetOutcome(
            name, view, ExitCode.INTERNAL, error=f"internal error: {type(error).__name__}: {error}"
        )
    return TargetOutcome(name, view, result.exit_code, result=result)


def _reviewable(view: Config, error: GuardTripped, now: datetime) -> str:
    """The plan a guard saved (a single-target plan, in the target's state folder), re-saved as a plan set
    for this one target, so `apply --target NAME --plan FILE --override-guards` takes it and no other target
    can. The message then says to add `--target NAME`."""
    name = view.targets[0].name
    path = view.state_dir / f"refused-plan-{error.run_id}.json"
    if error.run_id is None or not path.exists():
        return str(error)
    key = view.plan_signing_key.resolve() if view.plan_signing_key is not None else None
    try:
        plan_set.save(path, view, {name: plan_file.load(path, now, key)}, key)
    except (SyncdError, OSError) as failed:
        log.warning("refused plan not re-saved as a plan set", path=str(path), error=str(failed))
        return str(error)
    return f"{error}; with several targets, apply it with --target {name}"


# -- output ------------------------------------------------------------------------------------------


def target_line(outcome: TargetOutcome, *, write: bool) -> str:
    """One line per target: what it did (or why it stopped) and its own exit code."""
    head = f"Target {outcome.name} ({outcome.type}): exit {int(outcome.exit_code)}"
    result = outcome.result
    if result is None:
        return f"{head}: {outcome.error}"
    plan = result.plan
    if not write:
        return (
            f"{head}: {len(plan.changes)} change(s) planned, {len(plan.held)} held, {len(plan.blocked)} "
            f"blocked; seats {plan.seats_before} → {plan.seats_after}"
        )
    ok = sum(1 for r in result.results if r.outcome is Outcome.SUCCESS)
    failed = len(result.results) - ok
    return (
        f"{head}: applied {ok} of {len(plan.changes)} change(s); {failed} failed; {result.not_applied} not "
        f"applied; {len(plan.held)} held; seats {plan.seats_before} → {result.seats_after}"
    )


def total_line(result: MultiResult, *, write: bool) -> str:
    done = [o.result for o in result.outcomes if o.result is not None]
    before = sum(r.plan.seats_before for r in done)
    after = sum(r.seats_after for r in done)
    changes = sum(len(r.plan.changes) for r in done)
    codes = ", ".join(f"{o.name} {int(o.exit_code)}" for o in result.outcomes)
    if write:
        ok = sum(1 for r in done for c in r.results if c.outcome is Outcome.SUCCESS)
        what = f"applied {ok} of {changes} change(s)"
    else:
        what = f"{changes} change(s) planned"
    failed = sum(1 for o in result.outcomes if o.exit_code not in (ExitCode.OK, ExitCode.CHANGES_PENDING))
    return (
        f"Total: {len(result.outcomes)} target(s), {failed} not ok; {what}; seats {before} → {after} "
        f"(targets that ran); exit {int(result.exit_code)}, the worst of: {codes}"
    )


def ending_lines(result: MultiResult) -> list[str]:
    """What the run's ending on disk says (outcome.py; Task Scheduler discards stdout and stderr): a line per
    target that did not end 0, with its exit code and the first line of what stopped or troubled it, so the
    diagnostic log names the target and the cause as a single-target run's does."""
    lines: list[str] = []
    for o in result.outcomes:
        if o.exit_code in (ExitCode.OK, ExitCode.CHANGES_PENDING):
            continue
        problems = [o.error] if o.result is None else list(o.result.problems)
        cause = problems[0] if problems else "the audit log has this target's records"
        more = f" (and {len(problems) - 1} more: see the audit log)" if len(problems) > 1 else ""
        lines.append(f"target {o.name}: exit {int(o.exit_code)}: {cause}{more}")
    return lines


def stray_state_line(config: Config, carrying: Collection[str]) -> str | None:
    """The one line (or None) about a state in the single-target layout's folder that the targets in
    `carrying` will not carry over: bound to none of the config's targets, to nothing, or to a target that has
    its own already (`state_location.stray_state`). `status` passes no targets: it carries nothing over."""
    named = [(t.name, t.state_dir, t.settings) for t in config.targets]
    return stray_state(config.shared_state_dir, named, carrying)


def problem_lines(result: MultiResult) -> list[str]:
    """The run's notes, then each target's problems prefixed with its name (stderr)."""
    lines: list[str] = list(result.notes)
    for o in result.outcomes:
        if o.result is None:
            lines.append(f"target {o.name}: {o.error}")
        else:
            lines += [f"target {o.name}: {line}" for line in o.result.problems]
    return lines


# -- metrics ------------------------------------------------------------------------------------------


def _write_metrics(path: Path, result: MultiResult, now: datetime, *, dry_run: bool) -> None:
    """`metrics_file` for several targets: every target's metrics with a `target` label, and the run's own
    timestamp, exit code (the worst) and success without one, so one alert rule still covers the run."""
    per_target = {
        o.name: metrics.of_run(
            finished=now,
            exit_code=int(o.exit_code),
            duration_seconds=o.seconds,
            dry_run=dry_run,
            plan=o.result.plan if o.result is not None else None,  # a target stopped before planning: none
            seats_after=o.result.seats_after if o.result is not None else None,
            results=o.result.results if o.result is not None else (),
        )
        for o in result.outcomes
    }
    run = metrics.RunMetrics(
        finished=now,
        exit_code=int(result.exit_code),
        duration_seconds=sum(o.seconds for o in result.outcomes),
        dry_run=dry_run,
    )
    try:
        write_atomically(path, metrics.render_targets(per_target, run))
    except OSError as error:  # metrics are a convenience: never fail a run over them
        log.warning("metrics file not written", path=str(path), error=error.strerror)
