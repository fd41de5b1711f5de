"""Immutable values that cross layers: what sources read, what the target holds, what a plan changes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from syncd.identity import EmailKey

UNUSABLE_LISTED = 1000
"""How many members without a usable e-mail a plan names (the count is always complete)."""

NONE_ROLE = "None"
"""The 7pace role that holds no seat; assigning it is how a seat is released (docs/contract.md §1)."""


class Health(enum.Enum):
    """How trustworthy one (source, group) read is. Only OK reads may cause removals or downgrades."""

    OK = "ok"
    MISSING = "missing"  # group not found (typo, renamed, ambiguous name): never read as "empty"
    ERROR = "error"  # unreachable, timeout, auth
    PARTIAL = "partial"  # paging, ranging or nested expansion did not finish
    SUSPICIOUS = "suspicious"  # empty or shrunk too much since its last good read


class Action(enum.Enum):
    ASSIGN = "seat-assign"
    CHANGE = "role-change"
    UNASSIGN = "seat-unassign"


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Person:
    """One member as a source sees them. `key` is the identity; `via` is the nested path, outermost first."""

    key: EmailKey
    email: str
    display_name: str = ""
    source_id: str = ""
    enabled: bool = True
    via: tuple[str, ...] = ()
    inactive: str = ""  # why enabled is False, for the plan's reason ("account expired 2026-01-31 00:00 UTC")


@dataclass(frozen=True, slots=True)
class Unidentified:
    """A member with no usable e-mail address: reported, never guessed."""

    source_id: str
    display_name: str
    detail: str


@dataclass(frozen=True, slots=True)
class GroupRead:
    """The result of reading one group of one source, with its health.

    Sources return MISSING/ERROR/PARTIAL themselves; SUSPICIOUS is decided by the core, which knows history.
    `skipped` counts members deliberately ignored (service identities, devices, nested non-users).
    """

    source: str
    group: str
    health: Health
    members: tuple[Person, ...] = ()
    detail: str = ""
    unidentified: tuple[Unidentified, ...] = ()
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class LicensedUser:
    """A user the target knows, with their current role ("None" = no seat)."""

    key: EmailKey
    email: str
    role: str
    target_id: str = ""
    display_name: str = ""
    unique_name: str = ""
    vsts_id: str = ""


@dataclass(frozen=True, slots=True)
class SeatInfo:
    """What the target reports about its subscription, when it reports anything."""

    assignable: int | None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a change is planned: the rule, and the group (and nested path) that selected the person."""

    text: str
    rule: str = ""  # e.g. "rules[2]"; empty when no rule applies (unassign of an unselected person)
    source: str = ""
    group: str = ""
    via: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    key: EmailKey
    email: str
    action: Action
    before: str
    after: str
    reason: Reason
    target_id: str = ""


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    error: str = ""


@dataclass(frozen=True, slots=True)
class Held:
    """A removal or downgrade not applied this run, and why (grace period, unhealthy group)."""

    change: Change
    why: str
    due: datetime | None = None
    cause: str = ""  # "grace", or the health of the group that holds it ("missing", "suspicious", …)
    source: str = ""  # the unhealthy group that explains the hold (empty for grace)
    group: str = ""


@dataclass(frozen=True, slots=True)
class UnusableMember:
    """A member skipped for want of a usable e-mail, named where it was found (plan JSON, `-v`)."""

    source: str
    group: str
    source_id: str  # the row ("members.csv:17"), DN or directory id
    display_name: str
    detail: str


@dataclass(frozen=True, slots=True)
class LeftAlone:
    """A person syncd sends nothing for this run, and why (docs/contract.md, "What the plan leaves alone").

    `kind` is "ambiguous" (7pace holds the person twice), "unknown-role" (a role `[roles] order` does not
    name) or "not-in-organization" (not a user of the organization yet, so no seat can be given)."""

    key: EmailKey
    email: str
    role: str
    wanted: str
    kind: str
    why: str


@dataclass(frozen=True, slots=True)
class GroupStatus:
    source: str
    group: str
    health: Health
    members: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class IdleSeat:
    """A paid seat nobody uses (issue 18): who, since when, the rule that gives it, what happens to it."""

    key: EmailKey
    email: str
    role: str
    rule: str  # the rule that gives the seat (its name), or how the seat is held otherwise
    idle_since: datetime  # the latest activity, or the start of what syncd has read when there is none
    tracked: bool  # False: no worklog at all since `idle_since`
    days: int
    status: str  # "reported", "reclaim", "warned …", "kept: …", "held: …"
    devops: str = ""  # Azure DevOps last access: a date, "never", "not listed", or "" when not read


@dataclass(frozen=True)
class Plan:
    """Everything one cycle would do, as a value: printable, serialisable, reviewable, appliable."""

    changes: tuple[Change, ...]
    seats_before: int
    seats_after: int
    held: tuple[Held, ...] = ()
    blocked: tuple[Change, ...] = ()
    protected: tuple[Change, ...] = ()
    groups: tuple[GroupStatus, ...] = ()
    unidentified: int = 0
    seat_limit: int | None = None
    notes: tuple[str, ...] = field(default=())
    idle: tuple[IdleSeat, ...] = ()  # idle seats, when [reclaim] is configured
    idle_summary: str = ""  # "14 idle seats: USD 126.00 a month; …"
    unusable: tuple[UnusableMember, ...] = ()  # the members behind `unidentified`, at most UNUSABLE_LISTED
    unmatched: tuple[str, ...] = ()  # seat-holding 7pace rows no person can be matched to (counted in seats)
    left_alone: tuple[LeftAlone, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)
