"""One cycle, as a pipeline: read → judge → plan → guard → apply → record.

`plan`, `run --dry-run`, `run`, `apply` and `apply --plan` all go through `Cycle.run`; the only difference
is whether the side effect (the target write) happens, and whether a trail is kept (`syncd plan` records
into a `NullAuditLog`). The decisions are pure and live below: `rules` and `reconcile` (the plan), `guards`
(health, holds, removal limits). Reading the world is `reading`; sending the plan is `apply_loop`.
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
from syncd.apply_loop import Sent, send_plan
from syncd.apply_loop import settle_interrupted as settle_interrupted
from syncd.audit import AuditLog, NullAuditLog, summary_fields
from syncd.config import Config
from syncd.errors import ExitCode, GuardTripped, PlanRefused, SyncdError
from syncd.guards import (
    approved_plan,
    check_guards,
    held_problems,
    judge_health,
    outcome_exit_code,
    unhealthy_groups,
)
from syncd.identity import EmailKey
from syncd.idle_seats import IdleSeatStep
from syncd.matching import Matching
from syncd.models import (
    Action,
    ChangeResult,
    GroupBaseline,
    GroupRead,
    GroupStatus,
    Health,
    LicensedUser,
    Outcome,
    Owned,
    Plan,
)
from syncd.plan_output import ambiguous_line
from syncd.read_cache import SharedReads
from syncd.reading import (
    Readout,
    held_twice,
    matched_people,
    moved_keys,
    opened_target,
    read_organization,
    read_sources,
    read_target,
    unclaimed,
    unusable_members,
    with_aliases,
    without,
)
from syncd.reconcile import PlanInputs, Reconciliation, reconcile
from syncd.rules import Selection, desired_roles, inactive_members
from syncd.runlock import RunLock
from syncd.state import State
from syncd.state_location import carry_over, check_binding
from syncd.target_identity import binding
from syncd.target_read import TargetRead
from syncd.targets.interface import Target

log = structlog.get_logger("syncd.cycle")

_INTERRUPTED = (
    "run interrupted before it could finish; a batch being sent keeps its intent and the next run settles it"
)
REGRANT_WINDOW = timedelta(days=30)  # a seat syncd removed and someone gave back within this is reported

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


@dataclass(frozen=True)
class _Seen:
    """The read step's result: judged group reads, who the rules select, and what the target holds."""

    readout: Readout
    reads: Mapping[tuple[str, str], GroupRead]
    good: Mapping[tuple[str, str], GroupBaseline]  # new baselines of the reads still OK
    desired: Mapping[EmailKey, Selection]
    wanted: frozenset[EmailKey]  # who may need a seat: the target read also says if the organization has them
    target: Target
    seen: TargetRead
    owned: dict[EmailKey, Owned]  # the ledger, as loaded after settling interrupted batches


@dataclass(frozen=True)
class _Planned:
    """The plan step's result: the plan, what matching found, and what the plan observed."""

    plan: Plan
    recon: Reconciliation
    matched: Matching
    licensed: Mapping[EmailKey, LicensedUser]  # the matched seats the plan was made against
    fingerprint: str
    removed_recently: Mapping[EmailKey, datetime]


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
        config = self.config
        # read → judge
        seen = self._read(request, state, audit, stack, now)
        idle = self._idle_step(request, state, audit, now, seen.reads, stack)
        desired = idle.desired(seen.desired) if idle is not None else seen.desired
        # plan
        planned = self._plan(seen, desired, state, now, distrusted)
        if request.audit:
            self._observe(state, audit, seen, planned, now)
        plan = planned.plan
        if idle is not None:
            plan = idle.extend(
                plan, seen.target, planned.licensed, planned.matched.desired, _ledger_now(planned)
            )
            if request.reviewed is not None:  # a reviewed reclaim of someone who worked since is held
                request = replace(request, reviewed=idle.settle_reviewed(request.reviewed, plan))
        if request.reviewed is not None:
            if distrusted is not None:
                raise PlanRefused(
                    f"{request.reviewed_path}: the clock is not trusted ({distrusted}), so the plan's age "
                    "cannot be judged; fix the clock, or confirm it with --accept-clock"
                )
            plan = self._reviewed(request, plan, planned.fingerprint, state, now)
        cost, cost_lines = self._cost(plan, now)
        problems = _problems(plan, seen.readout, distrusted)
        problems += idle.take_problems() if idle is not None else []
        base = CycleResult(
            run_id, plan, ExitCode.OK, planned.fingerprint, now, (), (), 0, None, cost, cost_lines
        )

        # guard
        window_start = now - config.policy.removal_window
        earlier = sum(1 for at in planned.removed_recently.values() if at >= window_start)
        guard = check_guards(config.policy, plan, earlier)
        if guard and not (request.override_guards and request.reviewed is not None):
            if request.command == "plan":
                # a preview still shows (and saves) the plan, so it can be reviewed and approved
                exit_code = ExitCode.UNREACHABLE if seen.readout.source_errors else ExitCode.GUARD
                return replace(base, exit_code=exit_code, problems=tuple(problems), guard=guard)
            self._stop_for_guard(base, guard, audit)

        # apply (a dry run records what it would send instead of sending it)
        if request.write:
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
            sent = replace(sent, requests=dict(seen.target.request_counts()))
        else:
            for change in plan.changes:
                audit.planned(change)
            sent = Sent(plan)

        # record
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
            audit.summary(f"dry run: {len(plan.changes)} change(s) planned, nothing applied", fields)
        return result

    # -- steps ---------------------------------------------------------------------------------------
    def _read(
        self, request: CycleRequest, state: State, audit: AuditLog, stack: ExitStack, now: datetime
    ) -> _Seen:
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
        return _Seen(readout, reads, good, desired, wanted, target, seen, owned)

    def _plan(
        self,
        seen: _Seen,
        desired: Mapping[EmailKey, Selection],
        state: State,
        now: datetime,
        distrusted: str | None,
    ) -> _Planned:
        """Match people to seats (issue 16) and reconcile: the plan, pure, from what was read."""
        config, reads, read = self.config, seen.reads, seen.seen
        licensed = read.licensed
        seat_info = seen.target.seats()
        groups = tuple(
            GroupStatus(s, g, r.health, len(r.members), r.detail) for (s, g), r in sorted(reads.items())
        )
        matched = matched_people(state, without(desired, read.ambiguous_keys), licensed, config, seen.owned)
        plan_licensed, unmatched_rows = unclaimed(licensed, matched.licensed)
        unmatched = read.unmatched_lines() + tuple(
            f"{u.unique_name or u.email} ({u.role})" for u in unmatched_rows
        )
        unmatched_ids = frozenset(
            [u.target_id.casefold() for u in read.unmatched if u.target_id]
            + [u.target_id.casefold() for u in unmatched_rows if u.target_id]
        )
        organization = read_organization(
            seen.target, matched.desired, plan_licensed, seen.wanted, read.organization
        )
        removed_recently = state.removed_since(now - max(REGRANT_WINDOW, config.policy.removal_window))
        recon = reconcile(
            PlanInputs(
                desired=matched.desired,
                licensed=plan_licensed,
                owned=matched.owned,
                absent_since=moved_keys(state.absent_since(), matched.rekey),
                waiting_since=moved_keys(state.waiting_since(), matched.rekey),
                unhealthy=unhealthy_groups(config.rules, reads, config.rank),
                policy=config.policy,
                rank=config.rank,
                now=now,
                target_seat_limit=seat_info.assignable if seat_info else None,
                groups=groups,
                unidentified=sum(len(r.unidentified) for r in reads.values()),
                inactive=inactive_members(config.rules, reads, desired),
                clock_suspect=distrusted,
                regranted={
                    k: at
                    for k, at in removed_recently.items()
                    if k in plan_licensed and k not in matched.owned and at >= now - REGRANT_WINDOW
                },
                # the unmatched rows and every row of an e-mail 7pace holds twice
                extra_seats=read.seats - len(licensed) + len(unmatched_rows),
                unmatched=unmatched,
                unmatched_ids=unmatched_ids,
                known_roles=frozenset(config.role_order),
                organization=organization,
                renamed=matched.renamed,
                ambiguous=held_twice(read, desired) + matched.ambiguous,
                ambiguous_seats=matched.ambiguous_seats,
                identifiers=matched.identifiers,
            )
        )
        # seats nobody can be matched to, and people 7pace holds twice, are part of the world a plan saw
        roles_seen: dict[str, str] = {k: u.role for k, u in licensed.items()}
        roles_seen |= {f"unmatched:{n}:{line}": "" for n, line in enumerate(read.unmatched_lines())}
        roles_seen |= {f"ambiguous:{a.key}": str(len(a.rows)) for a in read.ambiguous}
        fingerprint = plan_file.fingerprint(
            config.digest, {k: s.role for k, s in desired.items()}, roles_seen
        )
        notes = recon.plan.notes + tuple(seen.target.notes())
        plan = replace(recon.plan, unusable=unusable_members(reads), notes=notes)
        return _Planned(plan, recon, matched, plan_licensed, fingerprint, removed_recently)

    def _observe(self, state: State, audit: AuditLog, seen: _Seen, planned: _Planned, now: datetime) -> None:
        """Observations are facts about the world, remembered by every audited run (a dry run advances the
        grace clock too, so turning writes on later does not restart every grace period). A `plan` is a
        preview and writes nothing: had it recorded waiting times for the people the seat cap blocked, they
        would jump the queue, and the next plan (or the apply) would pick others than the one reviewed."""
        matched, recon = planned.matched, planned.recon
        state.record_group_reads(seen.good)
        # renames first: the observations use today's keys (issue 16)
        state.rekey(matched.rekey, matched.renamed, now)
        for renamed in matched.renamed:
            audit.renamed(renamed)
        state.replace_observations(recon.absent_since, recon.waiting_since)
        if matched.refresh:
            state.record_owned(matched.refresh)
        if recon.adopt:
            state.record_owned({k: matched.with_ids(k, o) for k, o in recon.adopt.items()})
        if recon.disown or matched.dropped:
            state.forget_owned(recon.disown | matched.dropped)

    def _reviewed(
        self, request: CycleRequest, fresh: Plan, fingerprint: str, state: State, now: datetime
    ) -> Plan:
        reviewed = request.reviewed
        assert reviewed is not None
        if reviewed.fingerprint != fingerprint:
            raise PlanRefused(
                f"{request.reviewed_path}: the world has drifted since this plan was made (config, group "
                "members or target roles changed); make and review a new plan with `syncd plan --out FILE`"
            )
        plan = approved_plan(str(request.reviewed_path), reviewed.plan, fresh, request.override_guards)
        if plan is not reviewed.plan:  # suspicious groups released: their sizes become the new baselines
            state.record_group_reads(
                {
                    (g.source, g.group): GroupBaseline(g.members, "", now)
                    for g in plan.groups
                    if g.health is Health.SUSPICIOUS
                }
            )
        return plan

    def _idle_step(
        self,
        request: CycleRequest,
        state: State,
        audit: AuditLog,
        now: datetime,
        reads: Mapping[tuple[str, str], GroupRead],
        stack: ExitStack,
    ) -> IdleSeatStep | None:
        """The idle-seat steps (issue 18), when `[reclaim]` is configured."""
        if self.config.reclaim is None:
            return None
        step = IdleSeatStep(
            self.config, self.config.reclaim, state, write=request.write, audit=audit, now=now
        )
        step.read_groups(reads, stack)
        return step

    def _stop_for_guard(self, base: CycleResult, guard: str, audit: AuditLog) -> None:
        config = self.config
        saved_path = config.state_dir / f"refused-plan-{base.run_id}.json"
        key = config.plan_signing_key.resolve() if config.plan_signing_key is not None else None
        plan_file.save(saved_path, base.saved(config), key)
        message = (
            f"guard stopped the run, nothing applied: {guard}. Review {saved_path} and, if it is right, "
            f"run `syncd apply --plan {saved_path} --override-guards`"
        )
        audit.guard_stop(
            message,
            summary_fields(base.plan, (), time.monotonic(), base.plan.seats_before)
            | {"syncd.plan.file": str(saved_path), "process.exit.code": int(ExitCode.GUARD)},
        )
        raise GuardTripped(message)

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

    def _cost(self, plan: Plan, now: datetime) -> tuple[Mapping[str, Any] | None, tuple[str, ...]]:
        if self.config.pricing is None:
            return None, ()
        from syncd.pricing import preview

        result = preview(self.config.pricing, plan.seats_before, plan.seats_after, now.date())
        return result.as_dict(), tuple(result.lines())


def _ledger_now(planned: _Planned) -> dict[EmailKey, Owned]:
    """The matched ledger with this run's adoptions (what state.owned() holds after an audited run's writes),
    under the person's key, as in the plan (issue 16)."""
    ledger = {**planned.matched.owned, **planned.recon.adopt}
    for gone in planned.recon.disown | planned.matched.dropped:
        ledger.pop(gone, None)
    return ledger


def _problems(plan: Plan, readout: Readout, distrusted: str | None) -> list[str]:
    """One line each for stderr: failed sources, an untrusted clock, re-granted seats, groups not read
    cleanly, and (the first twenty) people left alone."""
    problems = [f"source {name}: {error}" for name, error in readout.source_errors.items()]
    if distrusted is not None:
        problems.append(f"clock not trusted: {distrusted}; removals held (confirm with --accept-clock)")
    regranted = [h.change.email for h in plan.held if h.cause == "re-granted"]
    if regranted:
        problems.append(
            f"{len(regranted)} seat(s) syncd removed were given back outside syncd (e.g. "
            f"{regranted[0]}): is a second syncd instance, or a person, managing this organisation? "
            "Held, not removed again"
        )
    problems += held_problems(plan, readout.source_errors.keys())
    problems += [f"{e.email}: left alone ({e.kind}): {e.why}" for e in plan.left_alone[:20]]
    problems += [f"left alone (ambiguous): {ambiguous_line(a)}" for a in plan.ambiguous[:20]]
    return problems


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
