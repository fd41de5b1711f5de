"""One cycle, as a pipeline: read → judge → plan → guard → apply → record.

`plan`, `run --dry-run`, `run`, `apply` and `apply --plan` all go through `Cycle.run`; the only difference
is whether the side effect (the target write) happens, and whether a trail is kept (`syncd plan` records
into a `NullAuditLog`). The decisions are pure and live below: `rules` and `reconcile` (the plan), `guards`
(health, holds, removal limits). Each step's work lives beside this module: reading the world is `reading`,
gathering the plan's inputs is `planning`, the idle-seat reclaims and a reviewed plan are `review`, sending
the plan is `apply_loop`; `Cycle._run` calls them in order and keeps the run's bookkeeping.
"""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from syncd import audit as audit_module
from syncd import clock_check, metrics, plan_file, status
from syncd.apply_loop import Sent, send_plan, settle_interrupted
from syncd.audit import AuditLog, NullAuditLog, summary_fields
from syncd.config import Config
from syncd.errors import ExitCode, SyncdError
from syncd.guards import check_guards, judge_health, outcome_exit_code
from syncd.idle_seats import IdleSeatStep
from syncd.models import Action, ChangeResult, Outcome, Plan
from syncd.planning import Planned, Seen, make_plan, observe, plan_cost, plan_problems
from syncd.read_cache import SharedReads
from syncd.reading import opened_target, read_sources, read_target, with_aliases
from syncd.review import final_plan, idle_step, refuse_for_guard
from syncd.rules import desired_roles
from syncd.runlock import RunLock
from syncd.state import State
from syncd.state_location import carry_over, check_binding
from syncd.target_identity import binding
from syncd.targets.interface import Target

log = structlog.get_logger("syncd.cycle")

_INTERRUPTED = (
    "run interrupted before it could finish; a batch being sent keeps its intent and the next run settles it"
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CycleRequest:
    command: str  # "plan" | "run" | "apply"
    write: bool  # send changes to the target
    audit: bool  # write the audit trail (run and apply, dry or not)
    reviewed: plan_file.SavedPlan | None = None
    reviewed_path: Path | None = None
    override_guards: bool = False
    max_runtime: timedelta | None = None
    accept_clock: bool = False  # trust this run's clock although it disagrees with the last run's


@dataclass(frozen=True)
class CycleResult:
    run_id: str
    plan: Plan
    exit_code: ExitCode
    fingerprint: str
    created: datetime
    results: tuple[ChangeResult, ...] = ()
    problems: tuple[str, ...] = ()  # one line each: unreachable sources, failures, what was left
    not_applied: int = 0
    audit_path: Path | None = None
    cost: Mapping[str, Any] | None = None
    cost_lines: tuple[str, ...] = ()
    requests: Mapping[str, int] = field(default_factory=dict)
    guard: str | None = None  # `plan` only: the guard a run would trip (runs raise GuardTripped instead)
    write_attempted: bool = False  # a writing run got past planning: seats after count what 7pace confirmed

    @property
    def seats_after(self) -> int:
        """The plan's figure for a preview; for a writing run, what the target confirmed (a failed, unknown
        or never-sent change leaves its seat as it was)."""
        if not self.write_attempted:
            return self.plan.seats_after
        done = [r.change.action for r in self.results if r.outcome is Outcome.SUCCESS]
        return self.plan.seats_before + done.count(Action.ASSIGN) - done.count(Action.UNASSIGN)

    def saved(self, config: Config) -> plan_file.SavedPlan:
        return plan_file.SavedPlan(self.plan, self.fingerprint, self.created, str(config.file), self.cost)


class Cycle:
    """One cycle for one config. `clock` and `stop` are injectable (tests, the daemon's signal handler)."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        stop: threading.Event | None = None,
        open_target: Callable[[Config], Any] = opened_target,
        reads: SharedReads | None = None,
    ) -> None:
        if len(config.targets) > 1:  # issue 19: one cycle is one target; syncd/multi_target.py runs several
            raise ValueError("Cycle needs a single-target config: take config.for_target(config, name)")
        self.config = config
        self._reads = reads
        self.clock = clock
        self.stop = stop or threading.Event()
        self._open_target = open_target

    def run(self, request: CycleRequest) -> CycleResult:
        config = self.config
        run_id = uuid.uuid4().hex[:16]
        started = time.monotonic()
        now = self.clock()
        structlog.contextvars.bind_contextvars(run_id=run_id)
        try:
            carry_over(config.state_dir, config.legacy_state_dir, config.target)
            with (
                _larger_collection_steps(),
                RunLock(config.state_dir, request.command) as lock,
                State(config.state_dir, ran_before=lock.ran_before) as state,
                ExitStack() as stack,
            ):
                check_binding(state, config.target)
                clock = clock_check.suspect(now, state.last_trusted_start(), config.clock)
                distrusted = clock if clock is not None and not request.accept_clock else None
                audit: AuditLog = NullAuditLog(run_id=run_id, target=config.target.type)
                if request.audit:
                    if distrusted is None:
                        audit_module.prune(config.audit_dir, config.audit_retention_days, now.date())
                    audit = AuditLog(
                        config.audit_dir,
                        run_id=run_id,
                        dry_run=not request.write,
                        target=config.target.type,
                        clock=self.clock,
                        target_url=binding(config.target)["url"],
                        target_name=config.target_name,
                    )
                    stack.callback(audit.close)
                    state.start_run(run_id, request.command, now)
                    state.record_run_clock(run_id, now, trusted=distrusted is None)
                if clock is not None:
                    self._report_clock(clock, request.accept_clock, audit)
                try:
                    result = self._run(request, run_id, state, audit, stack, now, started, distrusted)
                except SyncdError as error:
                    error.run_id = run_id
                    if request.audit:
                        self._unfinished(
                            request, state, audit, run_id, started, f"run stopped: {error}", error
                        )
                        error.audited = True
                    raise
                except KeyboardInterrupt:
                    # the bounded stop wait ran out (or a second signal): still account for the run
                    if request.audit:
                        self._unfinished(request, state, audit, run_id, started, _INTERRUPTED, None)
                    raise
                except Exception:
                    if request.audit:
                        self._metrics(request, int(ExitCode.INTERNAL), started, None)
                    raise
                if request.audit:
                    summary = status.run_summary(
                        result.plan,
                        result.results,
                        not_applied=result.not_applied,
                        seats_after=result.seats_after,
                        problems=result.problems,
                        cost=result.cost,
                        cost_lines=result.cost_lines,
                    )
                    self._finish(request, state, run_id, int(result.exit_code), summary, started, result)
                return result
        finally:
            structlog.contextvars.unbind_contextvars("run_id")

    def _run(
        self,
        request: CycleRequest,
        run_id: str,
        state: State,
        audit: AuditLog,
        stack: ExitStack,
        now: datetime,
        started: float,
        distrusted: str | None = None,
    ) -> CycleResult:
        # read → judge
        seen = self._read(request, state, audit, stack, now)
        idle = idle_step(self.config, state, audit, now, seen.reads, stack, write=request.write)
        # plan
        desired = idle.desired(seen.desired) if idle is not None else seen.desired
        planned = make_plan(self.config, seen, desired, state, now, distrusted)
        if request.audit:
            observe(state, audit, seen, planned, now)
        plan = final_plan(
            seen,
            planned,
            idle,
            request.reviewed,
            request.reviewed_path,
            state=state,
            now=now,
            override_guards=request.override_guards,
            distrusted=distrusted,
        )
        cost, cost_lines = plan_cost(self.config, plan, now)
        problems = plan_problems(plan, seen.readout, distrusted)
        problems += idle.take_problems() if idle is not None else []
        base = CycleResult(
            run_id, plan, ExitCode.OK, planned.fingerprint, now, (), (), 0, None, cost, cost_lines
        )
        # guard
        guard = self._guard(request, plan, planned, now)
        if guard is not None:
            if request.command == "plan":
                # a preview still shows (and saves) the plan, so it can be reviewed and approved
                exit_code = ExitCode.UNREACHABLE if seen.readout.source_errors else ExitCode.GUARD
                return replace(base, exit_code=exit_code, problems=tuple(problems), guard=guard)
            refuse_for_guard(self.config, base.saved(self.config), run_id, guard, audit)
        # apply (a dry run records what it would send instead of sending it)
        sent = self._apply(request, seen, plan, planned, state, audit, run_id, idle)
        # record
        return self._record(request, base, seen, sent, problems, audit, started)

    # -- steps ---------------------------------------------------------------------------------------
    def _read(
        self, request: CycleRequest, state: State, audit: AuditLog, stack: ExitStack, now: datetime
    ) -> Seen:
        """Read every rule's group and judge its health; read the target; settle interrupted batches."""
        config = self.config
        readout = read_sources(config, stack, self._reads)
        reads, good = judge_health(
            readout.reads, state.group_baselines(), config.policy.max_group_shrink_percent, now
        )
        desired = desired_roles(config.rules, reads, config.rank)
        owned = state.owned()
        # people who may need a seat (selected, no seat syncd knows of): the target read then also says
        # which of them are users of the organization, in the same pages (docs/contract.md §1.4)
        wanted = with_aliases((key for key in desired if key not in owned), desired)
        target: Target = stack.enter_context(self._open_target(config))
        seen = read_target(target, config, wanted)
        log.info(
            "target read",
            target=config.target.type,
            licensed=len(seen.licensed),
            unmatched=len(seen.unmatched),
            ambiguous=len(seen.ambiguous),
        )
        if request.write and settle_interrupted(state, audit, seen.licensed, now):
            seen = read_target(target, config, wanted)
            owned = state.owned()
        return Seen(readout, reads, good, desired, wanted, target, seen, owned)

    def _guard(self, request: CycleRequest, plan: Plan, planned: Planned, now: datetime) -> str | None:
        """The global guard this plan trips, counting this window's earlier removals; none when a reviewed
        plan is applied with --override-guards."""
        policy = self.config.policy
        window_start = now - policy.removal_window
        earlier = sum(1 for at in planned.removed_recently.values() if at >= window_start)
        guard = check_guards(policy, plan, earlier)
        if guard and not (request.override_guards and request.reviewed is not None):
            return guard
        return None

    def _apply(
        self,
        request: CycleRequest,
        seen: Seen,
        plan: Plan,
        planned: Planned,
        state: State,
        audit: AuditLog,
        run_id: str,
        idle: IdleSeatStep | None,
    ) -> Sent:
        """Send the plan, or (a dry run) record what would be sent."""
        if not request.write:
            for change in plan.changes:
                audit.planned(change)
            return Sent(plan)
        sent = send_plan(
            seen.target,
            plan,
            planned.licensed,
            state=state,
            audit=audit,
            run_id=run_id,
            clock=self.clock,
            stop=self.stop,
            max_runtime=request.max_runtime,
            idle=idle,
        )
        return replace(sent, requests=dict(seen.target.request_counts()))

    def _record(
        self,
        request: CycleRequest,
        base: CycleResult,
        seen: Seen,
        sent: Sent,
        problems: list[str],
        audit: AuditLog,
        started: float,
    ) -> CycleResult:
        """The run's result and exit code, and its closing audit events."""
        exit_code = outcome_exit_code(
            seen.readout.source_errors,
            sent.plan,
            failed=sum(1 for r in sent.results if r.outcome is not Outcome.SUCCESS),
            not_applied=sent.not_applied,
        )
        if exit_code is ExitCode.OK and sent.short:
            exit_code = ExitCode.PARTIAL  # stopped, or reclaims held because activity could not be read
        result = replace(
            base,
            plan=sent.plan,
            exit_code=exit_code,
            results=sent.results,
            problems=(*problems, *sent.problems),
            not_applied=sent.not_applied,
            audit_path=audit.trail,
            requests=sent.requests,
            write_attempted=request.write,
        )
        audit.left_over(sent.plan)
        fields = summary_fields(sent.plan, sent.results, started, result.seats_after) | {
            "event.outcome": "success" if exit_code is ExitCode.OK else "failure",
            "process.exit.code": int(exit_code),
        }
        if request.write:
            audit.summary(_summary_message(result), fields | {"syncd.not_applied": sent.not_applied})
        else:
            audit.summary(f"dry run: {len(base.plan.changes)} change(s) planned, nothing applied", fields)
        return result

    def _unfinished(
        self,
        request: CycleRequest,
        state: State,
        audit: AuditLog,
        run_id: str,
        started: float,
        message: str,
        error: SyncdError | None,
    ) -> None:
        """Account for a run that did not reach its end: an error (its own exit code), or an interruption
        (4: a batch being sent keeps its intent and the next run settles it)."""
        code = int(error.exit_code) if error is not None else int(ExitCode.PARTIAL)
        why = str(error) if error is not None else message
        audit.failed(message, why, code, started)
        self._finish(request, state, run_id, code, {"error": why}, started)

    def _finish(
        self,
        request: CycleRequest,
        state: State,
        run_id: str,
        exit_code: int,
        summary: Mapping[str, Any],
        started: float,
        result: CycleResult | None = None,
    ) -> None:
        """Close the run's record in the state, and write the metrics file."""
        state.finish_run(run_id, exit_code, dict(summary), self.clock())
        self._metrics(request, exit_code, started, result)

    def _metrics(
        self, request: CycleRequest, exit_code: int, started: float, result: CycleResult | None
    ) -> None:
        path = self.config.metrics_file
        if path is None:
            return
        run = metrics.of_run(
            finished=self.clock(),
            exit_code=exit_code,
            duration_seconds=time.monotonic() - started,
            dry_run=not request.write,
            plan=result.plan if result is not None else None,
            seats_after=result.seats_after if result is not None else None,
            results=result.results if result is not None else (),
        )
        try:
            metrics.write(path, run)
        except OSError as error:  # metrics are a convenience: never fail a run over them
            log.warning("metrics file not written", path=str(path), error=error.strerror)

    def _report_clock(self, why: str, accepted: bool, audit: AuditLog) -> None:
        if accepted:
            message = f"clock confirmed with --accept-clock although {why}"
        else:
            message = (
                f"clock not trusted: {why}; grace expiry, audit retention and plan age are not judged "
                "this run (removals are held); fix the clock, or confirm it with --accept-clock"
            )
        log.warning(message)
        audit.clock_suspect(message, accepted)


def _summary_message(result: CycleResult) -> str:
    ok = sum(1 for r in result.results if r.outcome is Outcome.SUCCESS)
    failed = len(result.results) - ok
    return (
        f"run finished: {ok} change(s) applied, {failed} failed, {result.not_applied} not applied, "
        f"{len(result.plan.held)} held; seats {result.plan.seats_before} → {result.seats_after}"
    )


@contextmanager
def _larger_collection_steps() -> Iterator[None]:
    """A cycle allocates hundreds of thousands of long-lived objects (people, seats, changes) and almost no
    cyclic garbage. With CPython's default thresholds (700, 10, 10) the collector re-scans that growing heap
    in full collections several times per read: 0.9 s of 4.9 s CPU in a 100,000-person plan (bench/stages.py).
    A larger young generation keeps the same collector with fewer, larger steps; garbage is still freed."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 50_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
