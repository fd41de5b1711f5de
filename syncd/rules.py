"""Desired state: which role each person should hold, by the highest-precedence rule that selects them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from syncd.identity import EmailKey
from syncd.models import NONE_ROLE, GroupRead, Health, Person, Rule


@dataclass(frozen=True, slots=True)
class Selection:
    """Why a person should hold `role`: the winning rule, and the nested path that made them a member."""

    key: EmailKey
    email: str
    display_name: str
    role: str
    rule: Rule
    via: tuple[str, ...] = ()
    person: Person | None = None  # every identifier the source knows (issue 16 matching)


# Reads whose members are real members. MISSING and ERROR reads carry none; PARTIAL and SUSPICIOUS ones carry
# people who are certainly members (so they may gain seats), but their *absences* prove nothing.
_MEMBERS_USABLE = frozenset({Health.OK, Health.PARTIAL, Health.SUSPICIOUS})


def desired_roles(
    rules: Iterable[Rule],
    reads: Mapping[tuple[str, str], GroupRead],
    rank: Callable[[str], int],
) -> dict[EmailKey, Selection]:
    """The highest role any rule gives each enabled member. Ties go to the earlier rule (deterministic).

    A rule whose role is "None" selects nobody for a seat; it exists to document intent and never outranks a
    seat-holding rule. Disabled accounts are not selected.
    """
    desired: dict[EmailKey, Selection] = {}
    for rule in sorted(rules, key=lambda r: (-rank(r.role), r.index)):
        if rule.role == NONE_ROLE:
            continue
        read = reads.get((rule.source, rule.group))
        if read is None or read.health not in _MEMBERS_USABLE:
            continue
        for person in read.members:
            # rules are visited best-first, so the first selection of a person is the winning one
            if not person.enabled or person.key in desired:
                continue
            desired[person.key] = Selection(
                person.key, person.email, person.display_name, rule.role, rule, person.via, person
            )
    return desired


def inactive_members(
    rules: Iterable[Rule], reads: Mapping[tuple[str, str], GroupRead], desired: Mapping[EmailKey, Selection]
) -> dict[EmailKey, str]:
    """Why members no rule selects were passed over: their account cannot sign in (disabled, expired,
    inactive), with the group that lists them. For the reason of a seat removal; first rule wins."""
    inactive: dict[EmailKey, str] = {}
    for rule in rules:
        read = reads.get((rule.source, rule.group))
        if read is None or read.health not in _MEMBERS_USABLE:
            continue
        for person in read.members:
            if person.enabled or person.key in desired or person.key in inactive:
                continue
            why = person.inactive or "account disabled"
            inactive[person.key] = f"{why}, member of {rule.group!r} ({rule.source})"
    return inactive
