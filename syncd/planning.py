"""The plan step of a run: people matched to seats (issue 16), the plan reconciled from what was read, what
an audited run remembers of it, and the lines a plan leaves for stderr.

The decisions themselves are pure and live below (`rules`, `reconcile`, `guards`); this module gathers
their inputs from one run's reads and the state, so `cycle.py` can read as its pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from syncd import plan_file
from syncd.audit import AuditLog
from syncd.config import Config
from syncd.guards import held_problems, unhealthy_groups
from syncd.identity import EmailKey
from syncd.matching import Matching
from syncd.models import GroupBaseline, GroupRead, GroupStatus, LicensedUser, Owned, Plan
from syncd.plan_output import ambiguous_line
from syncd.reading import (
    Readout,
    held_twice,
    matched_people,
    moved_keys,
    read_organization,
    unclaimed,
    unusable_members,
    without,
)
from syncd.reconcile import PlanInputs, Reconciliation, reconcile
from syncd.rules import Selection, inactive_members
from syncd.state import State
from syncd.target_read import TargetRead
from syncd.targets.interface import Target

REGRANT_WINDOW = timedelta(days=30)  # a seat syncd removed and someone gave back within this is reported


@dataclass(frozen=True)
class Seen:
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
class Planned:
    """The plan step's result: the plan, what matching found, and what the plan observed."""

    plan: Plan
    recon: Reconciliation
    matched: Matching
    licensed: Mapping[EmailKey, LicensedUser]  # the matched seats the plan was made against
    fingerprint: str
    removed_recently: Mapping[EmailKey, datetime]

    def ledger_now(self) -> dict[EmailKey, Owned]:
        """The matched ledger with this run's adoptions (what state.owned() holds after an audited run's
        writes), under the person's key, as in the plan (issue 16)."""
        ledger = {**self.matched.owned, **self.recon.adopt}
        for gone in self.recon.disown | self.matched.dropped:
            ledger.pop(gone, None)
        return ledger


def make_plan(
    config: Config,
    seen: Seen,
    desired: Mapping[EmailKey, Selection],
    state: State,
    now: datetime,
    distrusted: str | None,
) -> Planned:
    """Match people to seats (issue 16) and reconcile: the plan, pure, from what was read."""
    reads, read = seen.reads, seen.seen
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
    fingerprint = plan_file.fingerprint(config.digest, {k: s.role for k, s in desired.items()}, roles_seen)
    notes = recon.plan.notes + tuple(seen.target.notes())
    plan = replace(recon.plan, unusable=unusable_members(reads), notes=notes)
    return Planned(plan, recon, matched, plan_licensed, fingerprint, removed_recently)


def observe(state: State, audit: AuditLog, seen: Seen, planned: Planned, now: datetime) -> None:
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


def plan_cost(config: Config, plan: Plan, now: datetime) -> tuple[Mapping[str, Any] | None, tuple[str, ...]]:
    """What the plan costs (`[pricing]`), as the result's dict and its lines; nothing without pricing."""
    if config.pricing is None:
        return None, ()
    from syncd.pricing import preview

    result = preview(config.pricing, plan.seats_before, plan.seats_after, now.date())
    return result.as_dict(), tuple(result.lines())


def plan_problems(plan: Plan, readout: Readout, distrusted: str | None) -> list[str]:
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
