"""The plan a run goes on with, after planning, and plans a person reviews: the idle-seat reclaims added
(issue 18); a reviewed plan (`apply --plan FILE`) checked against the world before it is applied; and a plan
a guard refused, saved so it can be reviewed and approved.

Which changes a reviewed plan may carry is a pure rule in `guards.approved_plan`; this module adds what
needs the run: the clock's trust, the fingerprint of what this run read, the state and the audit trail.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from syncd import plan_file
from syncd.audit import AuditLog, summary_fields
from syncd.config import Config
from syncd.errors import ExitCode, GuardTripped, PlanRefused
from syncd.guards import approved_plan
from syncd.idle_seats import IdleSeatStep
from syncd.models import GroupBaseline, GroupRead, Health, Plan
from syncd.planning import Planned, Seen
from syncd.state import State


def idle_step(
    config: Config,
    state: State,
    audit: AuditLog,
    now: datetime,
    reads: Mapping[tuple[str, str], GroupRead],
    stack: ExitStack,
    *,
    write: bool,
) -> IdleSeatStep | None:
    """The idle-seat steps (issue 18), when `[reclaim]` is configured."""
    if config.reclaim is None:
        return None
    step = IdleSeatStep(config, config.reclaim, state, write=write, audit=audit, now=now)
    step.read_groups(reads, stack)
    return step


def final_plan(
    seen: Seen,
    planned: Planned,
    idle: IdleSeatStep | None,
    reviewed: plan_file.SavedPlan | None,
    reviewed_path: Path | None,
    *,
    state: State,
    now: datetime,
    override_guards: bool,
    distrusted: str | None,
) -> Plan:
    """The plan this run goes on with: the idle-seat reclaims added, and for `apply --plan` the reviewed
    plan, checked against this one (a reviewed reclaim of someone who worked since is held)."""
    plan = planned.plan
    if idle is not None:
        plan = idle.extend(plan, seen.target, planned.licensed, planned.matched.desired, planned.ledger_now())
        if reviewed is not None:
            reviewed = idle.settle_reviewed(reviewed, plan)
    if reviewed is None:
        return plan
    return reviewed_plan(
        reviewed,
        reviewed_path,
        plan,
        planned.fingerprint,
        state=state,
        now=now,
        override_guards=override_guards,
        distrusted=distrusted,
    )


def reviewed_plan(
    reviewed: plan_file.SavedPlan,
    path: Path | None,
    fresh: Plan,
    fingerprint: str,
    *,
    state: State,
    now: datetime,
    override_guards: bool,
    distrusted: str | None,
) -> Plan:
    """The reviewed plan as this run may apply it, or PlanRefused: its age cannot be judged on an untrusted
    clock, and a world that drifted since it was made (another fingerprint) needs a new review."""
    if distrusted is not None:
        raise PlanRefused(
            f"{path}: the clock is not trusted ({distrusted}), so the plan's age "
            "cannot be judged; fix the clock, or confirm it with --accept-clock"
        )
    if reviewed.fingerprint != fingerprint:
        raise PlanRefused(
            f"{path}: the world has drifted since this plan was made (config, group "
            "members or target roles changed); make and review a new plan with `syncd plan --out FILE`"
        )
    plan = approved_plan(str(path), reviewed.plan, fresh, override_guards)
    if plan is not reviewed.plan:  # suspicious groups released: their sizes become the new baselines
        state.record_group_reads(
            {
                (g.source, g.group): GroupBaseline(g.members, "", now)
                for g in plan.groups
                if g.health is Health.SUSPICIOUS
            }
        )
    return plan


def refuse_for_guard(
    config: Config, saved: plan_file.SavedPlan, run_id: str, guard: str, audit: AuditLog
) -> NoReturn:
    """Save the plan a guard stopped for review, audit the stop, and raise GuardTripped (exit 3): nothing
    was applied, and `apply --plan FILE --override-guards` applies the saved plan once a person approves."""
    saved_path = config.state_dir / f"refused-plan-{run_id}.json"
    key = config.plan_signing_key.resolve() if config.plan_signing_key is not None else None
    plan_file.save(saved_path, saved, key)
    message = (
        f"guard stopped the run, nothing applied: {guard}. Review {saved_path} and, if it is right, "
        f"run `syncd apply --plan {saved_path} --override-guards`"
    )
    audit.guard_stop(
        message,
        summary_fields(saved.plan, (), time.monotonic(), saved.plan.seats_before)
        | {"syncd.plan.file": str(saved_path), "process.exit.code": int(ExitCode.GUARD)},
    )
    raise GuardTripped(message)
