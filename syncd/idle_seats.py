"""The idle-seat steps of one cycle (issue 18), called at four points of the pipeline:

1. `desired()` — before reconcile (from `cycle.Cycle._run`): reclaimed people stay unassigned although their
   group still selects them, unless they are in the regrant group (then the reclaim is forgotten, audited, and
   the rules give the seat back in this very run); a reclaimed person no rule selects any more is forgotten
   too (audited);
2. `extend()` — after reconcile (from `review.final_plan`): read activity, judge idle seats, list them with
   their cost, and in reclaim mode add the reclaims to the plan (as seat removals, so every removal guard
   counts them);
3. `before_write()` — right before the write (from `apply_loop`): a fresh worklog read; a reclaim whose
   holder logged time is cancelled, a failed read holds every reclaim; the rest are recorded as reclaimed
   *before* they are sent (so a run killed mid-write never gives the seat back next run);
4. `after_write()` — after the write (from `apply_loop`): reclaims the target refused are forgotten again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from syncd import activity
from syncd.audit import AuditLog
from syncd.config import Config
from syncd.errors import SourceError
from syncd.identity import EmailKey
from syncd.idle_cost import idle_summary
from syncd.models import (
    Action,
    Change,
    ChangeResult,
    GroupRead,
    Health,
    Held,
    LicensedUser,
    Outcome,
    Owned,
    Plan,
    Reason,
    ordered,
)
from syncd.reading import SourceSet
from syncd.reclaim import HELD_CAUSE, RECLAIM_RULE, ReclaimInputs, decide, still_idle
from syncd.reclaim_settings import GroupRef, ReclaimSettings
from syncd.reclaim_state import Reclaimed, ReclaimState
from syncd.rules import Selection
from syncd.state import State
from syncd.targets.interface import Target

if TYPE_CHECKING:
    from syncd.plan_file import SavedPlan

log = structlog.get_logger("syncd.idle_seats")

REGRANT = "reclaim-regrant"
WARNING = "reclaim-warning"
GRANT = "reclaim-grant"
FORGOTTEN = "reclaim-forgotten"


class IdleSeatStep:
    def __init__(
        self,
        config: Config,
        settings: ReclaimSettings,
        state: State,
        *,
        write: bool,
        audit: AuditLog | None,
        now: datetime,
    ) -> None:
        self.config = config
        self.settings = settings
        self.store = ReclaimState(state)
        self.write = write
        self.audit = audit
        self.now = now
        self.extra_reads: dict[tuple[str, str], GroupRead] = {}
        self.rules_read_ok = False
        self.sources: SourceSet | None = None
        self._problems: list[str] = []
        self._activity: dict[str, datetime] | None = None  # what `extend` read
        self._read_problem = ""
        self.unread_holds = 0  # reclaims held because activity could not be read: the run exits 4
        self._unfinished: dict[EmailKey, Reclaimed] = {}  # reclaimed people, whose seat may still be held

    # -- 1. before reconcile ----------------------------------------------------------------------------
    def read_groups(self, reads: Mapping[tuple[str, str], GroupRead], stack: ExitStack) -> None:
        """Read the exempt and regrant groups (reusing a rule's read of the same group)."""
        self.rules_read_ok = all(r.health is Health.OK for r in reads.values())
        sources = self.sources = SourceSet(self.config, stack)
        for ref in self.settings.groups():
            pair = (ref.source, ref.group)
            if pair in reads:
                self.extra_reads[pair] = reads[pair]
                continue
            try:
                self.extra_reads[pair] = sources.get(ref.source).read_group(ref.group)
            except SourceError as error:
                self.extra_reads[pair] = GroupRead(ref.source, ref.group, Health.ERROR, detail=str(error))

    def _members(self, ref: GroupRef | None) -> frozenset[EmailKey]:
        if ref is None:
            return frozenset()
        read = self.extra_reads.get((ref.source, ref.group))
        return frozenset(p.key for p in read.members) if read else frozenset()

    def desired(self, desired: Mapping[EmailKey, Selection]) -> dict[EmailKey, Selection]:
        reclaimed = self.store.reclaimed()
        regrant = self._members(self.settings.regrant_group) & reclaimed.keys()
        if regrant and self.write:
            self.store.forget_reclaimed(regrant)
            for key in sorted(regrant):
                self._event(REGRANT, reclaimed[key].email, "in the regrant group: the seat comes back")
        kept = reclaimed.keys() - regrant
        self._unfinished = {k: reclaimed[k] for k in kept}
        # someone no rule selects any more (every group read fine) has no seat to come back to: forget the
        # reclaim, so that a later return (re-hired, re-added) follows the rules like anyone else's
        gone = kept - desired.keys() if self.rules_read_ok else set()
        if gone and self.write:
            self.store.forget_reclaimed(gone)
            for key in sorted(gone):
                self._event(FORGOTTEN, reclaimed[key].email, "no rule selects them any more")
        return {k: s for k, s in desired.items() if k not in kept}

    # -- 2. after reconcile -----------------------------------------------------------------------------
    def extend(
        self,
        plan: Plan,
        target: Target,
        licensed: Mapping[EmailKey, LicensedUser],
        desired: Mapping[EmailKey, Selection],
        owned: Mapping[EmailKey, Owned],
    ) -> Plan:
        settings, now = self.settings, self.now
        read = activity.refresh(target, self.store, settings, now)
        self._activity, self._read_problem = read.latest, read.problem
        if read.latest is None:
            self._problems.append(f"idle seats not judged: worklogs not read ({read.problem})")
        devops, devops_problem = self._devops_last_access()
        planned = frozenset(
            [c.key for c in (*plan.changes, *plan.protected, *plan.blocked)]
            + [h.change.key for h in plan.held]
        )
        decision = decide(
            ReclaimInputs(
                settings=settings,
                licensed=licensed,
                desired=desired,
                owned=owned,
                activity=read.latest,
                covered_from=read.covered_from,
                exempt_members=frozenset().union(*(self._members(g) for g in settings.exempt_groups)),
                unhealthy=self._unhealthy(plan),
                may_remove_unowned=self.config.policy.unmanaged == "remove",
                protected=self.config.policy.protected,
                planned=planned,
                warned=self.store.warnings(),
                now=now,
                activity_problem=read.problem,
                devops_last=devops,
            )
        )
        if self.write and settings.mode == "reclaim" and decision.judged:
            warned = dict(decision.warned)
            for change in decision.new_warnings:
                if not self._warn(change, now + settings.warn_before):
                    warned.pop(change.key, None)  # not sent: not warned; the next run tries again
            # warnings of people who worked since, or left, are dropped; unknown activity keeps them all
            self.store.replace_warnings(warned)
        judged = decision.judged
        # a reclaim recorded by a run that was stopped before (or while) its write: the rules now remove the
        # seat ("no rule selects them"); it is still that reclaim, re-checked before the write like any other
        finishing = [
            replace(
                c, reason=Reason(f"finishing the reclaim of {r.since:%Y-%m-%d}: {r.reason}", RECLAIM_RULE)
            )
            for c in plan.changes
            if c.action is Action.UNASSIGN and (r := self._unfinished.get(c.key)) is not None
        ]
        if finishing:
            done = {c.key for c in finishing}
            kept = [c for c in plan.changes if c.key not in done]
            plan = replace(plan, changes=ordered((*kept, *finishing)))
        summary = idle_summary(self.config.pricing, len(decision.idle), now.date()) if judged else ""
        changes = ordered((*plan.changes, *decision.reclaims))
        return replace(
            plan,
            changes=changes,
            held=tuple(sorted((*plan.held, *decision.held), key=lambda h: h.change.key)),
            seats_after=plan.seats_after - len(decision.reclaims),
            notes=(*plan.notes, *decision.notes, *devops_problem),
            idle=decision.idle,
            idle_summary=summary,
        )

    def _warn(self, change: Change, due: datetime) -> bool:
        """Audit the warning and, with `warn_channel`, mail it to the person. False: it could not be sent."""
        text = f"seat will be reclaimed from {due:%Y-%m-%d}: {change.reason.text}"
        fields: dict[str, object] = {"syncd.reclaim.due": due.isoformat(timespec="seconds")}
        name = self.settings.warn_channel
        if name is not None:
            from syncd.reclaim_warning import find_channel, send_warning

            alert = find_channel(self.config.alerts, name)
            run_id = self.audit.run_id if self.audit is not None else None
            error = (
                send_warning(
                    alert, change.email, due, change.reason.text, config=str(self.config.file), run_id=run_id
                )
                if alert is not None
                else f"no [[alerts]] email entry named {name!r}"
            )
            fields["syncd.alert.channel"] = name
            if error:
                fields |= {"event.outcome": "failure", "error.message": error}
                self._problems.append(f"reclaim warning to {change.email} not sent ({name}): {error}")
                self._event(WARNING, change.email, f"NOT SENT ({error}); {text}", fields)
                return False
        self._event(WARNING, change.email, text, fields)
        return True

    def _devops_last_access(self) -> tuple[dict[EmailKey, datetime | None] | None, tuple[str, ...]]:
        """The optional Azure DevOps signal; a failed read only leaves its column empty, with a note."""
        name = self.settings.devops_source
        if name is None or self.sources is None:
            return None, ()
        from syncd.sources.azure_devops_activity import read_last_access

        try:
            return read_last_access(self.sources.get(name), self.settings.devops_url), ()
        except SourceError as error:
            log.warning("Azure DevOps last access not read", source=name, error=str(error))
            return None, (f"Azure DevOps last access not read ({name}): {error}",)

    def _unhealthy(self, plan: Plan) -> str:
        for group in plan.groups:
            if group.health is not Health.OK:
                return f"group {group.group!r} of {group.source} is {group.health.value}"
        for (source, name), read in self.extra_reads.items():
            if read.health is not Health.OK:
                return f"reclaim group {name!r} of {source} is {read.health.value}: {read.detail}"
        return ""

    def settle_reviewed(self, reviewed: SavedPlan, fresh: Plan) -> SavedPlan:
        """A reviewed plan's reclaims that the fresh plan no longer makes because their holder logged time
        since (by the read `extend` just made) move to held, cancelled for this run: the rest of the
        reviewed plan is still checked change by change against the fresh one."""
        made = {c.key for c in fresh.changes if is_reclaim(c)}
        gone = tuple(c for c in reviewed.plan.changes if is_reclaim(c) and c.key not in made)
        if not gone:
            return reviewed
        if self._activity is None:  # the read failed: every such reclaim is held
            why = f"reclaim held: activity re-check failed ({self._read_problem})"
            cancelled = [Held(c, why, None, HELD_CAUSE) for c in gone]
            self._problems.append(f"{len(cancelled)} reclaim(s) held: {why}")
            self.unread_holds += len(cancelled)
        else:
            _, cancelled = still_idle(gone, {}, self._activity, self.now - self.settings.idle_for)
        if not cancelled:
            return reviewed
        dropped = {h.change.key for h in cancelled}
        plan = reviewed.plan
        settled = replace(
            plan,
            changes=tuple(c for c in plan.changes if not (is_reclaim(c) and c.key in dropped)),
            held=tuple(sorted((*plan.held, *cancelled), key=lambda h: h.change.key)),
            seats_after=plan.seats_after + len(cancelled),
        )
        return replace(reviewed, plan=settled)

    # -- 3. right before the write ----------------------------------------------------------------------
    def before_write(self, plan: Plan, target: Target, licensed: Mapping[EmailKey, LicensedUser]) -> Plan:
        reclaims = tuple(c for c in plan.changes if is_reclaim(c))
        if not reclaims:
            return plan
        read = activity.refresh(target, self.store, self.settings, self.now)
        if read.latest is None:
            why = f"reclaim held: activity re-check failed ({read.problem})"
            self._problems.append(f"{len(reclaims)} reclaim(s) held: {why}")
            self.unread_holds += len(reclaims)
            cancelled = [Held(c, why, None, HELD_CAUSE) for c in reclaims]
            keep: list[Change] = []
        else:
            keep, cancelled = still_idle(reclaims, licensed, read.latest, self.now - self.settings.idle_for)
            # a person working whose reclaim an interrupted run recorded keeps the seat, reclaimed no more
            self.store.forget_reclaimed(h.change.key for h in cancelled if h.change.key in self._unfinished)
        self.store.record_reclaimed(
            Reclaimed(c.key, c.email, c.before, c.reason.rule, self.now, c.reason.text)
            for c in keep
            if c.key not in self._unfinished
        )
        if not cancelled:
            return plan
        for held in cancelled:
            log.warning("reclaim cancelled", email=held.change.email, why=held.why)
        dropped = {h.change.key for h in cancelled}
        return replace(
            plan,
            changes=tuple(c for c in plan.changes if not (is_reclaim(c) and c.key in dropped)),
            held=tuple(sorted((*plan.held, *cancelled), key=lambda h: h.change.key)),
            seats_after=plan.seats_after + len(cancelled),
        )

    # -- 4. after the write -----------------------------------------------------------------------------
    def after_write(self, results: Sequence[ChangeResult]) -> None:
        refused = [r.change.key for r in results if is_reclaim(r.change) and r.outcome is Outcome.FAILURE]
        if refused:
            self.store.forget_reclaimed(refused)

    def take_problems(self) -> list[str]:
        """One line each, for stderr: activity that could not be read (the run itself goes on)."""
        taken, self._problems = self._problems, []
        return taken

    def _event(
        self, action: str, email: str, message: str, extra: Mapping[str, object] | None = None
    ) -> None:
        if self.audit is not None:
            self.audit.event(
                action, f"{action} {email}: {message}", {"user.target.email": email, **(extra or {})}
            )


def is_reclaim(change: Change) -> bool:
    return change.action is Action.UNASSIGN and change.reason.rule == RECLAIM_RULE
