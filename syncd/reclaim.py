"""Idle seats: which paid seats nobody uses, and which of them this run takes back (issue 18). Pure.

A seat is *idle* when all of these hold:
- its role is one `[reclaim] roles` names (default: the lowest role: approvers and budget owners may use
  7pace without logging time);
- its holder's activity can be read: the worklog read succeeded, covers at least `idle_for`, and the seat
  carries a 7pace user id (a person whose activity cannot be read is never idle);
- no worklog of the holder's is newer than `now - idle_for`;
- the seat is at least `min_seat_age` old (a new seat is never idle): its age is counted from the ownership
  ledger (when syncd assigned or adopted it); a seat syncd does not own has no known age and is only
  reported;
- the holder is not exempt (by address or by an exempt group).

In `mode = "reclaim"` an idle seat syncd may remove (it owns it, or `policy.unmanaged = "remove"`), that no
other change touches this run and whose holder is not protected, is reclaimed: first warned when
`warn_before` is set (reclaimed once the warning is that old), at most `max_per_run` per run, oldest idle
first. Any unhealthy group (a rule's, an exempt group, the regrant group) holds every reclaim: had it been
read, the person might be exempt or selected by another rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from syncd.identity import EmailKey
from syncd.models import NONE_ROLE, Action, Change, Held, IdleSeat, LicensedUser, Owned, Reason
from syncd.reclaim_settings import ReclaimSettings
from syncd.rules import Selection

RECLAIM_RULE = "reclaim"
HELD_CAUSE = "activity"


@dataclass(frozen=True)
class ReclaimInputs:
    settings: ReclaimSettings
    licensed: Mapping[EmailKey, LicensedUser]
    desired: Mapping[EmailKey, Selection]
    owned: Mapping[EmailKey, Owned]
    activity: Mapping[str, datetime] | None  # 7pace user id (casefolded) → latest; None: not readable
    covered_from: datetime | None
    exempt_members: frozenset[EmailKey]
    unhealthy: str  # why a group read is not trustworthy ("" when every group is ok)
    may_remove_unowned: bool
    protected: frozenset[EmailKey]
    planned: frozenset[EmailKey]  # people another change of this plan already touches
    warned: Mapping[EmailKey, datetime]
    now: datetime
    activity_problem: str = ""
    devops_last: Mapping[EmailKey, datetime | None] | None = None  # Azure DevOps last access (None: never)


@dataclass(frozen=True)
class ReclaimDecision:
    idle: tuple[IdleSeat, ...] = ()
    reclaims: tuple[Change, ...] = ()
    held: tuple[Held, ...] = ()
    new_warnings: tuple[Change, ...] = ()  # warn these people now (reclaim-warning events)
    warned: dict[EmailKey, datetime] = field(default_factory=dict)  # warnings to keep
    notes: tuple[str, ...] = ()
    judged: bool = True  # False: activity unknown or not covering idle_for yet (nobody counts as idle)


def idle_reason(seat: IdleSeat, settings: ReclaimSettings) -> str:
    """The reason a reclaim names: "no time tracked since 2026-09-30, 63 days (reclaim.idle_for = 60d)"."""
    day = seat.idle_since.strftime("%Y-%m-%d")
    what = f"no time tracked since {day}" if seat.tracked else f"no time tracked since at least {day}"
    return f"{what}, {seat.days} days (reclaim.idle_for = {settings.idle_for.days}d)"


def decide(inputs: ReclaimInputs) -> ReclaimDecision:
    settings, now = inputs.settings, inputs.now
    if inputs.activity is None or inputs.covered_from is None:
        why = inputs.activity_problem or "no complete worklog read yet"
        return ReclaimDecision(
            notes=(f"idle seats not judged: activity unknown ({why}); nobody counts as idle",), judged=False
        )
    cutoff = now - settings.idle_for
    if inputs.covered_from > cutoff:
        ready = (inputs.covered_from + settings.idle_for).strftime("%Y-%m-%d")
        return ReclaimDecision(
            notes=(
                f"idle seats not judged yet: worklogs read since {inputs.covered_from:%Y-%m-%d}, "
                f"idle_for needs them from {cutoff:%Y-%m-%d} (ready on {ready})",
            ),
            judged=False,
        )
    idle: list[tuple[IdleSeat, Change | None]] = []
    unreadable = exempt = 0
    for key, user in inputs.licensed.items():
        if user.role not in settings.roles:
            continue
        if key in settings.exempt or key in inputs.exempt_members:
            exempt += 1
            continue
        if not user.target_id:
            unreadable += 1
            continue
        last = inputs.activity.get(user.target_id.casefold())
        if last is not None and last >= cutoff:
            continue
        owned = inputs.owned.get(key)
        if owned is not None and now - owned.since < settings.min_seat_age:
            continue  # a new seat is never idle
        selection = inputs.desired.get(key)
        since = last if last is not None else inputs.covered_from
        rule = selection.rule.name if selection else (owned.rule if owned else "(no rule selects them)")
        seat = IdleSeat(
            key,
            user.email,
            user.role,
            rule,
            since,
            last is not None,
            (now - since).days,
            "reported",
            _devops(inputs.devops_last, key),
        )
        change: Change | None = None
        if selection is None or selection.role == user.role:
            reason = Reason(
                idle_reason(seat, settings),
                RECLAIM_RULE,
                selection.rule.source if selection else "",
                selection.rule.group if selection else "",
            )
            change = Change(key, user.email, Action.UNASSIGN, user.role, NONE_ROLE, reason, user.target_id)
        idle.append((seat, change))
    idle.sort(key=lambda pair: (pair[0].idle_since, pair[0].key))

    notes: list[str] = []
    if unreadable:
        notes.append(
            f"{unreadable} seat(s) have no 7pace user id, so their activity cannot be read: never idle"
        )
    if exempt:
        notes.append(f"{exempt} seat(s) in reclaim roles are exempt (reclaim.exempt, reclaim.exempt_groups)")
    if settings.mode == "report":
        return ReclaimDecision(idle=tuple(s for s, _ in idle), notes=tuple(notes))
    return _reclaim(inputs, idle, notes)


def _reclaim(
    inputs: ReclaimInputs, idle: list[tuple[IdleSeat, Change | None]], notes: list[str]
) -> ReclaimDecision:
    settings, now = inputs.settings, inputs.now
    seats: list[IdleSeat] = []
    reclaims: list[Change] = []
    held: list[Held] = []
    warnings: list[Change] = []
    warned: dict[EmailKey, datetime] = {}
    for seat, change in idle:
        status = _not_reclaimable(inputs, seat, change)
        if status or change is None:
            seats.append(_with(seat, status or "reported"))
            continue
        if inputs.unhealthy:
            held.append(Held(change, f"reclaim held: {inputs.unhealthy}", None, HELD_CAUSE))
            seats.append(_with(seat, "held: a group is unhealthy"))
            if seat.key in inputs.warned:
                warned[seat.key] = inputs.warned[seat.key]  # a hold keeps the warning already given
            continue
        if settings.warn_before:
            since = inputs.warned.get(seat.key)
            if since is None:
                warnings.append(change)
                warned[seat.key] = now
                seats.append(_with(seat, f"warned now; reclaimed from {now + settings.warn_before:%Y-%m-%d}"))
                continue
            warned[seat.key] = since
            if now < since + settings.warn_before:
                seats.append(
                    _with(
                        seat,
                        f"warned {since:%Y-%m-%d}; reclaimed from {since + settings.warn_before:%Y-%m-%d}",
                    )
                )
                continue
        if len(reclaims) >= settings.max_per_run:
            seats.append(_with(seat, f"next run (reclaim.max_per_run = {settings.max_per_run})"))
            continue
        reclaims.append(change)
        seats.append(_with(seat, "reclaim"))
    return ReclaimDecision(tuple(seats), tuple(reclaims), tuple(held), tuple(warnings), warned, tuple(notes))


def _not_reclaimable(inputs: ReclaimInputs, seat: IdleSeat, change: Change | None) -> str:
    if seat.key in inputs.protected:
        return "kept: policy.protected"
    if seat.key in inputs.planned or change is None:
        return "kept: another change this run"
    if seat.key not in inputs.owned and not inputs.may_remove_unowned:
        return 'kept: seat assigned outside syncd (policy.unmanaged = "keep")'
    return ""


def _with(seat: IdleSeat, status: str) -> IdleSeat:
    return replace(seat, status=status)


def _devops(last: Mapping[EmailKey, datetime | None] | None, key: EmailKey) -> str:
    if last is None:
        return ""
    if key not in last:
        return "not listed"
    moment = last[key]
    return "never" if moment is None else moment.strftime("%Y-%m-%d")


def still_idle(
    changes: tuple[Change, ...],
    licensed: Mapping[EmailKey, LicensedUser],
    fresh: Mapping[str, datetime],
    cutoff: datetime,
) -> tuple[list[Change], list[Held]]:
    """The re-check right before the write: a reclaim whose holder logged time since `cutoff` (by the fresh
    read) is cancelled for this run, held with the worklog's time."""
    keep: list[Change] = []
    cancelled: list[Held] = []
    for change in changes:
        user_id = (
            change.target_id or (licensed[change.key].target_id if change.key in licensed else "")
        ).casefold()
        last = fresh.get(user_id)
        if last is not None and last >= cutoff:
            cancelled.append(
                Held(
                    change, f"reclaim cancelled: time tracked at {last:%Y-%m-%d %H:%M} UTC", None, HELD_CAUSE
                )
            )
        else:
            keep.append(change)
    return keep, cancelled
