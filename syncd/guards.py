"""The guards: what keeps a cycle from doing harm, as pure functions of plain values (no config, no I/O).

- `judge_health`: a read that emptied or shrank too much since its last good read is SUSPICIOUS, so its
  absences cannot cause removals.
- `unhealthy_groups`: the groups not read cleanly, ranked by the highest role they feed: the planner holds
  removals and downgrades below that role.
- `check_guards`: the global removal limits of one run and of the removal window across runs.
- `held_problems`: one line per group not read cleanly, with what it holds (why a run exits 4), and
  `outcome_exit_code`: what a run that reached its end exits with.
- `approved_plan`: a reviewed plan (`apply --plan`) may carry only the changes the same inputs make now.

They take `Policy`, the rules and the role ranking, never the whole `Config`, so every one is tested with
plain data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from syncd.errors import ExitCode, PlanRefused
from syncd.models import (
    Action,
    Change,
    GroupBaseline,
    GroupRead,
    Health,
    Plan,
    Policy,
    Rule,
    ordered,
    utc_stamp,
)
from syncd.reconcile import UnhealthyGroup

Pair = tuple[str, str]  # (source, group)


def _group_digest(read: GroupRead) -> str:
    digest = hashlib.sha256()
    for key in sorted(p.key for p in read.members):
        digest.update(key.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def judge_health(
    reads: Mapping[Pair, GroupRead],
    baselines: Mapping[Pair, GroupBaseline],
    max_shrink_percent: float,
    now: datetime,
) -> tuple[dict[Pair, GroupRead], dict[Pair, GroupBaseline]]:
    """Mark OK reads that emptied or shrank too much since their last good read as SUSPICIOUS.

    Returns the judged reads and the new baselines (only for reads still OK).
    """
    judged: dict[Pair, GroupRead] = {}
    good: dict[Pair, GroupBaseline] = {}
    for pair, read in reads.items():
        if read.health is not Health.OK:
            judged[pair] = read
            continue
        size = len(read.members)
        baseline = baselines.get(pair)
        if baseline is not None and baseline.size > 0:
            shrink = 100.0 * (baseline.size - size) / baseline.size
            when = utc_stamp(baseline.read_at)
            if size == 0:
                judged[pair] = replace(
                    read,
                    health=Health.SUSPICIOUS,
                    detail=f"empty now, {baseline.size} member(s) at its last good read ({when})",
                )
                continue
            if shrink > max_shrink_percent:
                judged[pair] = replace(
                    read,
                    health=Health.SUSPICIOUS,
                    detail=(
                        f"shrank {shrink:.0f}% ({baseline.size} → {size}) since its last good read ({when}); "
                        f"policy.max_group_shrink_percent = {max_shrink_percent:g}"
                    ),
                )
                continue
        judged[pair] = read
        good[pair] = GroupBaseline(size, _group_digest(read), now)
    return judged, good


def unhealthy_groups(
    rules: Iterable[Rule], reads: Mapping[Pair, GroupRead], rank: Callable[[str], int]
) -> list[UnhealthyGroup]:
    """The groups not read cleanly, each with the highest rank of any rule it feeds."""
    ranks: dict[Pair, int] = {}
    for rule in rules:
        pair = (rule.source, rule.group)
        if reads[pair].health is not Health.OK:
            ranks[pair] = max(ranks.get(pair, 0), rank(rule.role))
    return [
        UnhealthyGroup(s, g, reads[(s, g)].health, level, reads[(s, g)].detail)
        for (s, g), level in sorted(ranks.items())
    ]


def held_problems(plan: Plan, failed_sources: Collection[str]) -> list[str]:
    """One line per group not read cleanly, with what it holds: why a run exits 4. The groups of a source
    that failed as a whole (`failed_sources`, names) are left out: its own line says why."""
    held_by: dict[Pair, int] = {}
    for held in plan.held:
        if held.group:
            key = (held.source, held.group)
            held_by[key] = held_by.get(key, 0) + 1
    lines = []
    for g in plan.groups:
        if g.health is Health.OK or g.source in failed_sources:
            continue
        count = held_by.get((g.source, g.group), 0)
        detail = f": {g.detail}" if g.detail else ""
        lines.append(
            f"group {g.group!r} of source {g.source} is {g.health.value}{detail}; "
            f"its rule's assignments and {count} removal(s)/downgrade(s) are held "
            "(see `syncd plan` or `syncd status`)"
        )
    return lines


def outcome_exit_code(
    source_errors: Collection[str], plan: Plan, *, failed: int, not_applied: int
) -> ExitCode:
    """The exit code of a cycle that ran to its end (guards and whole failures raise their own).

    5 when a source, or a source used to expand another's groups, was down; 4 when changes failed or were
    left, or when any group was not read cleanly (missing, partial, suspicious, unreadable): the people it
    covers are held, and a scheduler must not see that as success. 4 too when a match is ambiguous (7pace
    holds a person twice, a row matches two people, a person two rows): nothing is sent for them until an
    admin merges the accounts or fixes the identifiers. Holds by grace, assignments
    blocked by the configured seat cap, seats in a role `[roles]` does not name, and people who are not
    users of the organization yet (often for good: they do not use Azure DevOps; plan, status and audit
    name them) are the policy working: 0.
    """
    if source_errors:
        return ExitCode.UNREACHABLE
    if failed or not_applied or any(g.health is not Health.OK for g in plan.groups):
        return ExitCode.PARTIAL
    if plan.ambiguous:
        return ExitCode.PARTIAL
    return ExitCode.OK


def check_guards(policy: Policy, plan: Plan, removed_in_window: int = 0) -> str | None:
    """The global removal guards. Returns why the run must stop, or None. `removed_in_window`: seats syncd
    removed in earlier runs within policy.removal_window."""
    removals = plan.count(Action.UNASSIGN)
    window = _window_guard(policy.removal_window, policy.max_window_removal_percent, plan, removed_in_window)
    if removals > policy.max_removals:
        return f"{removals} seat removals exceed policy.max_removals = {policy.max_removals}"
    if plan.seats_before and removals * 100.0 > policy.max_removal_percent * plan.seats_before:
        percent = 100.0 * removals / plan.seats_before
        return (
            f"{removals} seat removals are {percent:.1f}% of {plan.seats_before} seats, above "
            f"policy.max_removal_percent = {policy.max_removal_percent:g}"
        )
    return window


def _window_guard(window: timedelta, percent: float, plan: Plan, earlier: int) -> str | None:
    """The removal budget across runs: seats at the window's start are today's plus those removed since."""
    removals = plan.count(Action.UNASSIGN)
    if window <= timedelta(0) or not removals:
        return None
    base = plan.seats_before + earlier
    total = earlier + removals
    if base and total * 100.0 > percent * base:
        return (
            f"{total} seat removals within policy.removal_window = {_days(window)} ({earlier} by earlier "
            f"runs, {removals} now) are {100.0 * total / base:.1f}% of the {base} seats held at its start, "
            f"above policy.max_window_removal_percent = {percent:g}"
        )
    return None


def _days(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours >= 24 and hours % 24 == 0 else f"{hours:g}h"


def approved_plan(path: str, reviewed: Plan, fresh: Plan, override_guards: bool) -> Plan:
    """The reviewed plan (`apply --plan`, read from `path`) as it may be applied, checked against the plan
    the same inputs make now (`fresh`). With --override-guards, an approved plan also releases removals
    held only because a group looked suspicious (emptied or shrank a lot): the reviewer saw them listed.
    Missing or unreadable groups stay held. Returns `reviewed` itself when it releases nothing."""
    _refuse_unexplained(path, reviewed, fresh, override_guards)
    if not override_guards:
        return reviewed
    released = tuple(h.change for h in reviewed.held if h.cause == Health.SUSPICIOUS.value)
    if not released:
        return reviewed
    return replace(
        reviewed,
        changes=ordered((*reviewed.changes, *released)),
        held=tuple(h for h in reviewed.held if h.cause != Health.SUSPICIOUS.value),
        seats_after=reviewed.seats_after - sum(1 for c in released if c.action is Action.UNASSIGN),
    )


def _refuse_unexplained(path: str, reviewed: Plan, fresh: Plan, override_guards: bool) -> None:
    """A reviewed plan may only carry changes the same inputs make now (the fingerprint says they are the
    same inputs, and planning is deterministic): a change that a fresh plan would not make was put there by
    hand, whatever its seal says. With --override-guards, the suspicious-group removals it releases must be
    ones the fresh plan holds for that reason."""

    def shape(change: Change) -> tuple[str, str, str, str]:
        return (change.key, change.action.value, change.before, change.after)

    allowed = {shape(c) for c in fresh.changes}
    releasable = {shape(h.change) for h in fresh.held if h.cause == Health.SUSPICIOUS.value}
    extra = [c for c in reviewed.changes if shape(c) not in allowed]
    if override_guards:
        extra += [
            h.change
            for h in reviewed.held
            if h.cause == Health.SUSPICIOUS.value and shape(h.change) not in releasable
        ]
    if extra:
        first = extra[0]
        more = f" (+{len(extra) - 1} more)" if len(extra) > 1 else ""
        raise PlanRefused(
            f"{path}: plan holds a change the current inputs do not produce: {first.action.value} "
            f"{first.email} {first.before} → {first.after}{more}; nothing applied; make and review a new "
            "plan with `syncd plan --out FILE`"
        )
