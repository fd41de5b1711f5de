"""Immutable values that cross layers: what sources read, what the target holds, what a plan changes."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

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


ACTION_ORDER: dict[Action, int] = {Action.UNASSIGN: 0, Action.CHANGE: 1, Action.ASSIGN: 2}
"""The one order of a plan's changes: seats are freed before roles change, and both before new seats."""


def utc_stamp(moment: datetime) -> str:
    """The one way a moment is shown to people (messages, plan text, status): "2026-01-31 00:00 UTC"."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Rule:
    """(source, group) → role. `index` is the position in `[[rules]]`, used to name it in messages."""

    index: int
    source: str
    group: str
    role: str
    target: str = ""  # the `[[targets]]` name (issue 19); empty in a single-target config that names none

    @property
    def name(self) -> str:
        return f"rules[{self.index}]"

    @property
    def identity(self) -> str:
        return rule_identity(self.source, self.group, self.role)


def rule_identity(source: str, group: str, role: str) -> str:
    """Stable across edits that reorder rules: what the ownership ledger records."""
    return f"{source}:{group}→{role}"


@dataclass(frozen=True, slots=True)
class Policy:
    unmanaged: Literal["keep", "remove"] = "keep"
    protected: frozenset[EmailKey] = frozenset()
    grace: timedelta = timedelta(hours=24)
    max_removals: int = 50
    max_removal_percent: float = 10.0
    max_group_shrink_percent: float = 50.0
    seat_limit: int | None = None
    adopt: bool = True
    # issue 21: the removals of all runs within `removal_window` together (the "salami" case: a group
    # shrinking just under max_removal_percent on every run); a zero window switches it off
    removal_window: timedelta = timedelta(days=7)
    window_removal_percent: float | None = None  # unset: 2.5 × max_removal_percent, at most 100

    @property
    def max_window_removal_percent(self) -> float:
        if self.window_removal_percent is not None:
            return self.window_removal_percent
        return min(100.0, 2.5 * self.max_removal_percent)


class Owned(NamedTuple):
    """A ledger entry: syncd assigned (or adopted) this seat under `rule` (a Rule.identity).

    The ids (issue 16) make ownership survive renames: the 7pace user id (and vstsId) of the seat and the
    source's immutable id of the person. Empty until known (a new seat has no id before it is read back).
    A NamedTuple, immutable like the dataclasses: 100,000 of them are built per state load, each with its
    own ids, and a tuple is built several times faster than a frozen dataclass.
    """

    role: str
    rule: str
    since: datetime
    target_id: str = ""
    vsts_id: str = ""
    person_id: str = ""


@dataclass(frozen=True, slots=True)
class Person:
    """One member as a source sees them. `key` is the identity; `via` is the nested path, outermost first.

    `source_id` is the source's immutable id (objectGUID, Entra object id, Azure DevOps descriptor, the file's
    `id` column): it survives renames. `upn` is the user principal name as written; `aliases` are the keys
    (`identity.normalise_identifier`) of every other name the person has: UPN, proxy and other addresses,
    principal names, origin ids. One shared empty tuple when there are none, so 100,000 people stay cheap.
    """

    key: EmailKey
    email: str
    display_name: str = ""
    source_id: str = ""
    enabled: bool = True
    via: tuple[str, ...] = ()
    inactive: str = ""  # why enabled is False, for the plan's reason ("account expired 2026-01-31 00:00 UTC")
    upn: str = ""
    aliases: tuple[EmailKey, ...] = ()


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
class GroupBaseline:
    """A group's last good read (size, digest of its members' keys): what its next read is judged against."""

    size: int
    digest: str
    read_at: datetime


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
    identifiers: tuple[str, ...] = ()  # "kind:value" of each identifier that matched or is written (issue 16)
    person_id: str = ""  # the source's immutable id of the person, recorded in the ownership ledger


def ordered(changes: Iterable[Change]) -> tuple[Change, ...]:
    """Changes in ACTION_ORDER, then by person: the order every plan lists and sends them in."""
    return tuple(sorted(changes, key=lambda c: (ACTION_ORDER[c.action], c.key)))


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

    `kind` is "unknown-role" (a role `[roles] order` does not name), "not-in-organization" (not a user of
    the organization yet, so no seat can be given) or "unproven" (may hold a seat no person can be matched
    to). People 7pace or the directory hold ambiguously are `Ambiguous` entries, not LeftAlone ones."""

    key: EmailKey
    email: str
    role: str
    wanted: str
    kind: str
    why: str


@dataclass(frozen=True, slots=True)
class Renamed:
    """A person whose key changed since syncd recorded their seat (same immutable id or same 7pace user):
    their seat and its ownership follow them; nothing is assigned or removed for it."""

    key: EmailKey
    before: EmailKey
    display_name: str
    how: str  # what proved it is the same person: "immutable id …" or "7pace user …"
    target_id: str = ""
    person_id: str = ""


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """People and 7pace rows that match each other in more than one way: never acted upon, seats counted,
    and held work an admin must clear (exit 4). One concept for both ways it arises: one e-mail on several
    7pace users (the target read, issue 14), and a row matching two people or a person two rows through
    their other identifiers (matching, issue 16)."""

    people: tuple[str, ...]  # "key (display name)"
    rows: tuple[str, ...]  # "identifier (7pace id)"
    seats: int  # rows among them that hold a seat
    why: str
    keys: tuple[EmailKey, ...] = ()  # the people's keys: nothing is sent for them, their ledger entries stay


@dataclass(frozen=True, slots=True)
class GroupStatus:
    source: str
    group: str
    health: Health
    members: int
    detail: str = ""


def group_status_dict(group: GroupStatus) -> dict[str, Any]:
    """One group's health as the plan file and `syncd status` write it (one shape for both)."""
    return {
        "source": group.source,
        "group": group.group,
        "health": group.health.value,
        "members": group.members,
        "detail": group.detail,
    }


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
    renamed: tuple[Renamed, ...] = ()
    ambiguous: tuple[Ambiguous, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)
