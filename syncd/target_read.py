"""The target read as one value, and its health: complete, partial or inconsistent (docs/contract.md §1).

The safety model rests on every "before" in a plan being what the target really holds. A source group's
read is judged (ok, partial, missing …) before it may lower anyone's seat; the target read is judged the
same way here, and anything but *complete* stops the run before any write (exit 5, one line):

- **partial**: paging broke off (a page failed, the page bound was reached), or rows came back twice
  (the server ignored `$skip`, or the list shifted while it was read, so a row may also have been missed);
- **inconsistent**: a row with no role, or one 7pace user id with two different roles or e-mails.

Two rules are about people rather than rows:
- **unmatched**: a seat-holding row with no usable e-mail (nor an address as `uniqueName`). It still holds a
  paid seat: it counts toward seats held, the seat cap and the cost, and the plan lists it.
- **ambiguous**: one e-mail on two different 7pace user ids. Nothing is sent for that person (a write by
  e-mail could land on either), the plan names them, and every row counts toward seats held.

`judge` is pure (rows in, a `TargetRead` out, or `TargetReadRefused`), so each rule is tested on plain data.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from syncd.errors import TargetProtocolError
from syncd.identity import EmailKey
from syncd.models import LicensedUser


class ReadHealth(enum.Enum):
    COMPLETE = "complete"
    PARTIAL = "partial"
    INCONSISTENT = "inconsistent"


class TargetReadRefused(TargetProtocolError):
    """The target read is not complete: no writes this run (exit 5). `health` says which way it failed."""

    def __init__(self, health: ReadHealth, describe: str, why: str) -> None:
        self.health = health
        super().__init__(
            f"target read {health.value}: {describe} {why}; every seat in a plan would be a guess, so "
            "nothing is written this run"
        )


@dataclass(frozen=True, slots=True)
class UnmatchedSeat:
    """A seat-holding row that names no usable e-mail: what it does carry, for the plan's list."""

    label: str  # uniqueName, else display name, else id
    role: str
    target_id: str = ""


@dataclass(frozen=True, slots=True)
class AmbiguousPerson:
    """One e-mail on several 7pace user ids: each row is a seat; syncd sends nothing for the person."""

    key: EmailKey
    email: str
    rows: tuple[LicensedUser, ...]


@dataclass(frozen=True)
class Organization:
    """The organization's users (`GET users`): who can be given a seat, and by which 7pace id.

    `unlabelled` counts users with no usable e-mail: while it is above 0, absence from `by_key` proves
    nothing (that person may be one of them)."""

    by_key: Mapping[EmailKey, LicensedUser]
    unlabelled: int = 0


@dataclass(frozen=True)
class TargetRead:
    """A complete read of the seats the target holds."""

    licensed: Mapping[EmailKey, LicensedUser]
    unmatched: tuple[UnmatchedSeat, ...] = ()
    ambiguous: tuple[AmbiguousPerson, ...] = ()
    pages: int = 0
    largest_page: int = 0
    roles: Mapping[str, int] = field(default_factory=dict)  # role name as the server spells it → rows
    notes: tuple[str, ...] = ()  # dialect observations ("the server ignores $count …")
    organization: Organization | None = None  # who can be assigned, when the read asked for it

    @property
    def seats(self) -> int:
        """Seats held: matched people, unmatched rows, and every row of an ambiguous person."""
        return len(self.licensed) + len(self.unmatched) + sum(len(a.rows) for a in self.ambiguous)

    @property
    def ambiguous_keys(self) -> frozenset[EmailKey]:
        return frozenset(a.key for a in self.ambiguous)

    def unmatched_lines(self) -> tuple[str, ...]:
        return tuple(f"{u.label} ({u.role})" for u in self.unmatched)


def judge(
    rows: Iterable[LicensedUser],
    unmatched: Iterable[UnmatchedSeat],
    describe: str,
    *,
    pages: int = 0,
    largest_page: int = 0,
    notes: tuple[str, ...] = (),
) -> TargetRead:
    """Judge the seat-holding rows of one read (in read order). Raises TargetReadRefused unless complete."""
    by_key: dict[EmailKey, LicensedUser] = {}
    extra: dict[EmailKey, list[LicensedUser]] = {}  # keys seen more than once: every row, in order
    by_id: dict[str, LicensedUser] = {}
    roles: dict[str, int] = {}
    for user in rows:
        roles[user.role] = roles.get(user.role, 0) + 1
        if user.target_id:
            folded = user.target_id.casefold()
            earlier = by_id.get(folded)
            if earlier is not None:
                _same_id_twice(earlier, user, describe)
            by_id[folded] = user
        first = by_key.get(user.key)
        if first is None:
            by_key[user.key] = user
        else:
            extra.setdefault(user.key, [first]).append(user)
    ambiguous: list[AmbiguousPerson] = []
    for key, same in extra.items():
        if not any(u.target_id for u in same) and len({(u.email, u.unique_name, u.role) for u in same}) == 1:
            raise TargetReadRefused(
                ReadHealth.PARTIAL,
                describe,
                f"returned {same[0].email} {len(same)} times with nothing to tell the rows apart (rows "
                "repeated: the list shifted while it was read, or the server does not page)",
            )
        del by_key[key]
        ambiguous.append(AmbiguousPerson(key, same[0].email, tuple(same)))
    ambiguous.sort(key=lambda a: a.key)
    unmatched_rows = tuple(unmatched)
    for seat in unmatched_rows:
        roles[seat.role] = roles.get(seat.role, 0) + 1
    return TargetRead(
        by_key,
        unmatched_rows,
        tuple(ambiguous),
        pages=pages,
        largest_page=largest_page,
        roles=roles,
        notes=notes,
    )


def _same_id_twice(earlier: LicensedUser, later: LicensedUser, describe: str) -> None:
    if earlier.role.casefold() != later.role.casefold():
        raise TargetReadRefused(
            ReadHealth.INCONSISTENT,
            describe,
            f"returned user id {later.target_id} twice with different roles ({earlier.role}, {later.role})",
        )
    if earlier.key != later.key:
        raise TargetReadRefused(
            ReadHealth.INCONSISTENT,
            describe,
            f"returned user id {later.target_id} twice with different e-mails "
            f"({earlier.email}, {later.email})",
        )
    raise TargetReadRefused(
        ReadHealth.PARTIAL,
        describe,
        f"returned user id {later.target_id} ({later.email}) twice (rows repeated: the list shifted while it "
        "was read, or the server does not page)",
    )


def roles_against(seen: Mapping[str, int], order: Sequence[str]) -> tuple[str, bool]:
    """The distinct role names a read returned, each against `[roles] order`, as one line; and whether any
    needs handling (spelled another way, or unknown: such seats are left alone)."""
    configured = {name.casefold(): name for name in order}
    parts = []
    handled = False
    for name, count in sorted(seen.items()):
        match = configured.get(name.casefold())
        if match is None:
            parts.append(f"{name} ×{count} (not in [roles] order: left alone)")
        elif match != name:
            parts.append(f"{name} ×{count} (= {match}, sent as {name})")
        else:
            parts.append(f"{name} ×{count}")
            continue
        handled = True
    return "; ".join(parts) or "none (no seats held)", handled
