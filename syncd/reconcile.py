"""The plan: desired roles + what the target holds + what syncd owns → the changes one cycle makes.

A pure function: no I/O, no clock of its own (`now` is passed in), so every safety rule below is tested with
plain data. The rules, in the order they are applied to each person:

1. Upgrades and new seats are immediate (subject only to the seat cap).
2. Removals and downgrades happen only to seats syncd may touch: seats it owns (assigned or adopted), or any
   seat when `policy.unmanaged = "remove"`. Protected people are never downgraded or removed.
3. A removal or downgrade is **held** when any unhealthy group (missing, error, partial, suspicious) feeds a
   rule whose role is above the person's new role: had that group been read, the person might be in it.
4. A removal or downgrade waits until the person has been absent for `policy.grace`; coming back cancels it.
5. The seat cap is never exceeded: seats are freed first, then assignments are made in a deterministic
   priority (role, longest waiting, e-mail); the rest are blocked and retried each run.
6. Some people are left alone and listed (docs/contract.md §1.4): people matched ambiguously (one e-mail
   on two 7pace users, a row matching two people or a person two rows: `Ambiguous`); a seat whose role
   `[roles] order` does not name (unknown roles never outrank or underrank a configured one by accident);
   an assignment to someone who is not a user of the organization, or who may already hold one of the
   seats 7pace lists without an e-mail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from syncd.identity import EmailKey
from syncd.models import (
    ACTION_ORDER,
    NONE_ROLE,
    Action,
    Ambiguous,
    Change,
    GroupStatus,
    Health,
    Held,
    LeftAlone,
    LicensedUser,
    Owned,
    Plan,
    Policy,
    Reason,
    Renamed,
    utc_stamp,
)
from syncd.rules import Selection
from syncd.target_read import Organization


@dataclass(frozen=True, slots=True)
class UnhealthyGroup:
    source: str
    group: str
    health: Health
    rank: int  # the highest rank of any rule fed by this group
    detail: str = ""


@dataclass(frozen=True)
class PlanInputs:
    desired: Mapping[EmailKey, Selection]
    licensed: Mapping[EmailKey, LicensedUser]  # every user holding a role other than None
    owned: Mapping[EmailKey, Owned]
    absent_since: Mapping[EmailKey, datetime]
    waiting_since: Mapping[EmailKey, datetime]
    unhealthy: Sequence[UnhealthyGroup]
    policy: Policy
    rank: Callable[[str], int]
    now: datetime
    target_seat_limit: int | None = None
    groups: tuple[GroupStatus, ...] = ()
    unidentified: int = 0
    # members passed over because their account cannot sign in → why (rules.inactive_members)
    inactive: Mapping[EmailKey, str] = field(default_factory=dict)
    clock_suspect: str | None = None  # why `now` is not believed: grace is neither started nor ended
    # seats syncd removed recently (person → when) that are held again now without syncd: someone else
    # (a second instance, a person) gave them back; removing them again would start a fight (issue 21)
    regranted: Mapping[EmailKey, datetime] = field(default_factory=dict)
    extra_seats: int = 0  # seats held by unmatched rows and by every row of an e-mail 7pace holds twice
    unmatched: tuple[str, ...] = ()  # those unmatched rows, for the plan's list
    unmatched_ids: frozenset[str] = frozenset()  # their 7pace ids, case-folded
    known_roles: frozenset[str] | None = None  # `[roles] order`; None = every role is known
    organization: Organization | None = None  # who can be given a seat; None = not known
    # issue 16: what matching found (matching.py)
    renamed: tuple[Renamed, ...] = ()
    # people and rows matched ambiguously, whichever way (one e-mail on two 7pace users, a row matching two
    # people, a person two rows): nothing is sent for them, and their rows hold seats nobody may touch
    ambiguous: tuple[Ambiguous, ...] = ()
    ambiguous_seats: int = 0  # rows matching left out of `licensed` (the target read's are in extra_seats)
    identifiers: Callable[[EmailKey], tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Reconciliation:
    """The plan plus the observations to remember (replacing the previous ones wholesale)."""

    plan: Plan
    absent_since: dict[EmailKey, datetime] = field(default_factory=dict)
    waiting_since: dict[EmailKey, datetime] = field(default_factory=dict)
    adopt: dict[EmailKey, Owned] = field(default_factory=dict)  # seats to record as owned without a write
    disown: frozenset[EmailKey] = frozenset()  # ledger entries for seats that no longer exist


PROTECTED_REASON = "policy.protected: never downgraded or removed"


def reconcile(inputs: PlanInputs) -> Reconciliation:
    policy, rank, now = inputs.policy, inputs.rank, inputs.now
    describe = inputs.identifiers
    changes: list[Change] = []
    assigns: list[tuple[Change, Selection]] = []
    held: list[Held] = []
    protected: list[Change] = []
    absent: dict[EmailKey, datetime] = {}
    adopt: dict[EmailKey, Owned] = {}
    disown: set[EmailKey] = set()
    left: list[LeftAlone] = []
    kept_unmanaged = 0
    known = inputs.known_roles

    held_apart = {k for entry in inputs.ambiguous for k in entry.keys}
    for key in inputs.desired.keys() | inputs.licensed.keys():
        if key in held_apart:
            continue
        selection = inputs.desired.get(key)
        user = inputs.licensed.get(key)
        current = user.role if user else NONE_ROLE
        wanted = selection.role if selection else NONE_ROLE
        owned = inputs.owned.get(key)
        if known is not None and current != NONE_ROLE and current not in known and current != wanted:
            if selection is not None or owned is not None or policy.unmanaged == "remove":
                left.append(
                    LeftAlone(
                        key,
                        user.email if user else key,
                        current,
                        wanted,
                        "unknown-role",
                        f"7pace role {current!r} is not in [roles] order, so it neither outranks nor ranks "
                        "below a configured role; left alone (name it in [roles] order to manage it)",
                    )
                )
            continue

        if current == wanted:
            if selection and (owned is None or owned.rule != selection.rule.identity):
                if owned is not None:
                    adopt[key] = owned._replace(role=wanted, rule=selection.rule.identity)
                elif policy.adopt:
                    adopt[key] = Owned(wanted, selection.rule.identity, now)
            elif selection is None and owned is not None:
                disown.add(key)  # holds no seat and no rule wants one: nothing left to own
            continue
        # 7pace's own spelling and id for people it has; a new seat as the person's chosen identifier
        email = user.email if user else (selection.email if selection else key)
        target_id = user.target_id if user else ""
        if current == NONE_ROLE and selection is not None:
            member, why = _assignable(inputs, key, selection)
            if member is None:
                left.append(LeftAlone(key, email, current, wanted, why[0], why[1]))
                continue
            if member.target_id:
                email, target_id = member.email, member.target_id
        identifiers = _written_as(describe(key), email, key, target_id) if describe is not None else ()
        person = selection.person if selection else None
        person_id = person.source_id if person is not None else ""
        if rank(wanted) > rank(current):
            change = Change(
                key,
                email,
                Action.ASSIGN if current == NONE_ROLE else Action.CHANGE,
                current,
                wanted,
                _selected_reason(selection) if selection else Reason("selected"),
                target_id,
                identifiers,
                person_id,
            )
            if change.action is Action.ASSIGN and selection is not None:
                assigns.append((change, selection))
            else:
                changes.append(change)
            continue

        # a removal (wanted None) or a downgrade
        action = Action.UNASSIGN if wanted == NONE_ROLE else Action.CHANGE
        reason = _lowering_reason(selection, owned, current, inputs.inactive.get(key, ""))
        change = Change(key, email, action, current, wanted, reason, target_id, identifiers, person_id)
        if key in policy.protected:
            protected.append(replace(change, reason=Reason(PROTECTED_REASON)))
            continue
        if owned is None and key in inputs.regranted:
            when = utc_stamp(inputs.regranted[key])
            hold_why = f"given back outside syncd after syncd removed it ({when}); not removed again"
            held.append(Held(change, hold_why, None, "re-granted"))
            continue
        if owned is None and policy.unmanaged == "keep":
            kept_unmanaged += 1
            continue
        blocking = [g for g in inputs.unhealthy if g.rank > rank(wanted)]
        if blocking:
            blocking.sort(key=lambda g: _explains(g, owned, rank(current)))
            first = blocking[0]
            held.append(
                Held(change, _health_hold(blocking), None, first.health.value, first.source, first.group)
            )
            continue
        recorded = inputs.absent_since.get(key)
        if inputs.clock_suspect is not None:
            # a wrong clock must neither start a grace period (a start in the past skips it) nor end one
            if recorded is not None:
                absent[key] = recorded
            hold_why = f"clock not trusted ({inputs.clock_suspect}); confirm it with --accept-clock"
            held.append(Held(change, hold_why, None, "clock"))
            continue
        # a start in the future was recorded by a clock that ran ahead: restart now instead of stretching
        since = now if recorded is None or recorded > now else recorded
        absent[key] = since
        due = since + policy.grace
        if now < due:
            held.append(Held(change, f"grace period: absent since {utc_stamp(since)}", due, "grace"))
            continue
        changes.append(change)

    # ledger entries for seats released outside syncd: nothing left to own (and nothing to remove later)
    # (an ambiguous person's entry stays: the seat is still there, only not acted upon this run)
    disown.update(
        k
        for k in inputs.owned
        if k not in inputs.licensed and k not in inputs.desired and k not in held_apart
    )

    seats_before = (
        inputs.extra_seats
        + inputs.ambiguous_seats
        + sum(1 for u in inputs.licensed.values() if u.role != NONE_ROLE)
    )
    removals = sum(1 for c in changes if c.action is Action.UNASSIGN)
    limit = _effective_limit(policy.seat_limit, inputs.target_seat_limit)
    free = None if limit is None else max(0, limit - (seats_before - removals))

    # priority: higher role first, then who has waited longest, then e-mail (deterministic)
    assigns.sort(
        key=lambda pair: (-rank(pair[0].after), inputs.waiting_since.get(pair[0].key, now), pair[0].key)
    )
    blocked: list[Change] = []
    waiting: dict[EmailKey, datetime] = {}
    for change, _ in assigns:
        if free is None or free > 0:
            changes.append(change)
            if free is not None:
                free -= 1
        else:
            blocked.append(change)
            waiting[change.key] = inputs.waiting_since.get(change.key, now)

    changes.sort(key=lambda c: (ACTION_ORDER[c.action], c.key))
    held.sort(key=lambda h: h.change.key)
    protected.sort(key=lambda c: c.key)
    blocked.sort(key=lambda c: c.key)
    left.sort(key=lambda entry: (entry.kind, entry.key))
    assigned = sum(1 for c in changes if c.action is Action.ASSIGN)

    notes: list[str] = []
    if kept_unmanaged:
        notes.append(
            f"{kept_unmanaged} seat(s) assigned outside syncd would lose their role under the rules; kept "
            '(policy.unmanaged = "keep")'
        )
    regranted = sum(1 for h in held if h.cause == "re-granted")
    if regranted:
        notes.append(
            f"{regranted} seat(s) syncd removed were given back outside syncd (a second syncd instance or a "
            "person manages this organisation too?): held, not fought"
        )
    if blocked:
        notes.append(f"{len(blocked)} assignment(s) blocked by the seat limit of {limit}; retried every run")
    if inputs.ambiguous:
        notes.append(
            f"{len(inputs.ambiguous)} ambiguous match(es) left alone "
            f"({sum(a.seats for a in inputs.ambiguous)} seat(s) counted as held): merge the 7pace users, or "
            "fix the identifiers or [identity] domain_aliases"
        )

    plan = Plan(
        changes=tuple(changes),
        seats_before=seats_before,
        seats_after=seats_before - removals + assigned,
        held=tuple(held),
        blocked=tuple(blocked),
        protected=tuple(protected),
        groups=inputs.groups,
        unidentified=inputs.unidentified,
        seat_limit=limit,
        notes=tuple(notes),
        unmatched=inputs.unmatched,
        left_alone=tuple(left),
        renamed=inputs.renamed,
        ambiguous=inputs.ambiguous,
    )
    return Reconciliation(plan, absent, waiting, adopt, frozenset(disown))


_NOT_KNOWN = LicensedUser(EmailKey(""), "", NONE_ROLE)  # "assignable, id unknown": write by e-mail


def _assignable(
    inputs: PlanInputs, key: EmailKey, selection: Selection
) -> tuple[LicensedUser | None, tuple[str, str]]:
    """The organization user to give a seat to, or None and (kind, why) when no seat can be given now.
    The organization is searched by the person's key, then by their other identifiers (issue 16)."""
    organization = inputs.organization
    if organization is None:
        if inputs.unmatched:
            return None, (
                "unproven",
                f"may already hold one of the {len(inputs.unmatched)} seat(s) 7pace lists without an e-mail "
                "(and the organization's users cannot be listed); nothing sent until they can be matched",
            )
        return _NOT_KNOWN, ("", "")
    member = organization.by_key.get(key)
    if member is None and selection.person is not None:
        member = next((m for a in selection.person.aliases if (m := organization.by_key.get(a))), None)
    if member is not None:
        if member.target_id and member.target_id.casefold() in inputs.unmatched_ids:
            return None, (
                "unproven",
                "already holds a seat 7pace lists without an e-mail; nothing sent until it can be matched",
            )
        return member, ("", "")
    if organization.unlabelled:
        return None, (
            "unproven",
            f"not found among the organization's users, {organization.unlabelled} of whom carry no e-mail; "
            "nothing sent until they can be matched",
        )
    return None, (
        "not-in-organization",
        "cannot be assigned yet: not a user of the organization (add them to Azure DevOps first)",
    )


def _written_as(identifiers: tuple[str, ...], email: str, key: EmailKey, target_id: str) -> tuple[str, ...]:
    """`written:` names what is really sent: nothing when the write goes by 7pace id, else the e-mail chosen
    here (7pace's own spelling for a user it has), never an export's spelling 7pace was not sent."""
    kept = tuple(i for i in identifiers if not i.startswith("written:"))
    if not target_id and email.casefold() != key:
        return (*kept, f"written:{email}")
    return kept if len(kept) != len(identifiers) else identifiers


def _effective_limit(configured: int | None, reported: int | None) -> int | None:
    limits = [v for v in (configured, reported) if v is not None]
    return min(limits) if limits else None


def _selected_reason(selection: Selection) -> Reason:
    rule = selection.rule
    via = f" via {' → '.join(selection.via)}" if selection.via else ""
    return Reason(
        f"member of {rule.group!r} ({rule.source}){via} → {rule.role} by {rule.name}",
        rule.name,
        rule.source,
        rule.group,
        selection.via,
    )


def _lowering_reason(
    selection: Selection | None, owned: Owned | None, current: str, inactive: str = ""
) -> Reason:
    if selection is None and inactive:
        reason = _lowering_reason(None, owned, current)
        return Reason(f"{inactive}; {reason.text}", reason.rule)
    if selection is not None:
        base = _selected_reason(selection)
        return Reason(
            f"highest rule now gives {selection.role}, not {current}: {base.text}",
            base.rule,
            base.source,
            base.group,
            base.via,
        )
    if owned is not None:
        return Reason(
            f"no rule selects them any more (seat assigned by syncd under {owned.rule})", owned.rule
        )
    return Reason('no rule selects them (policy.unmanaged = "remove")')


def _explains(group: UnhealthyGroup, owned: Owned | None, current_rank: int) -> tuple[int, int]:
    """Sort key: the group whose rule gave syncd this seat explains a hold best, then a group feeding the
    role the person holds now, then the others (highest role first); ties keep the (source, group) order."""
    if owned is not None and owned.rule.startswith(f"{group.source}:{group.group}→"):
        return (0, 0)
    if group.rank == current_rank:
        return (1, 0)
    return (2, -group.rank)


def _health_hold(blocking: Sequence[UnhealthyGroup]) -> str:
    first = blocking[0]
    more = f" (+{len(blocking) - 1} more)" if len(blocking) > 1 else ""
    detail = f": {first.detail}" if first.detail else ""
    return f"group {first.group!r} of {first.source} is {first.health.value}{detail}{more}"
