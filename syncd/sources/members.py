"""What a directory source needs around one group read: collecting members (de-duplicated, with the
skipped and the unidentified), and the rule that turns a failure into a health verdict, never a short read.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from syncd.errors import SourceAuthFailed, SourceProtocolError, SourceUnreachable
from syncd.identity import EmailKey, normalise_email, normalise_identifier
from syncd.models import GroupRead, Health, Person, Unidentified

# the one bound on every source's paging loop (LDAP pages, Graph and Azure DevOps listings, entitlements):
# a real listing ends long before; a server that never says "last page" stops here with a clear error
MAX_PAGES = 100_000


def read_with_health(
    source: str, group: str, read: Callable[[], GroupRead], *, reached: Callable[[], bool]
) -> GroupRead:
    """Run `read`; a failure after the source answered at least once is Health.ERROR for this group.

    Refused credentials always raise (the whole source is down), and so does "unreachable" before any
    answer: the core then reports the source, not each of its groups.
    """
    try:
        return read()
    except SourceAuthFailed:
        raise
    except SourceUnreachable as error:
        if not reached():
            raise
        return GroupRead(source, group, Health.ERROR, detail=f"read did not finish: {error}")
    except SourceProtocolError as error:
        return GroupRead(source, group, Health.ERROR, detail=str(error))


class MemberCollector:
    """The members of one group read: de-duplicated by identity key, with what was skipped or unidentified.

    The first path that reaches a person wins (breadth-first = shortest), except that an enabled entry
    replaces a disabled one: a person disabled in one place and active in another is active.
    """

    def __init__(self) -> None:
        self._people: dict[EmailKey, Person] = {}
        self._unidentified: dict[str, Unidentified] = {}
        self.skipped = 0
        self.partial: list[str] = []

    def add_user(
        self,
        *,
        addresses: Sequence[str | None],
        display_name: str,
        source_id: str,
        enabled: bool,
        via: tuple[str, ...],
        detail: str,
        inactive: str = "",
        upn: str = "",
        identifiers: Sequence[str | None] = (),
    ) -> None:
        """`addresses` in order of preference for the identity key; `identifiers` every other name the person
        has (issue 16: UPN, other mails, proxy addresses, principal and origin ids), kept as aliases.
        `inactive`: why the account cannot sign in, kept when `enabled` is False (the plan's reason)."""
        for raw in addresses:
            key = normalise_email(raw)
            if key is not None and raw is not None:
                others = dict.fromkeys(
                    k
                    for k in map(normalise_identifier, (*addresses, *identifiers))
                    if k is not None and k != key
                )
                aliases = tuple(others) if others else ()
                why = "" if enabled else inactive
                self.add(
                    Person(
                        key,
                        raw.strip(),
                        display_name,
                        source_id,
                        enabled,
                        via,
                        inactive=why,
                        upn=upn,
                        aliases=aliases,
                    )
                )
                return
        if source_id not in self._unidentified:
            self._unidentified[source_id] = Unidentified(source_id, display_name, detail)

    def add(self, person: Person) -> None:
        known = self._people.get(person.key)
        if known is None or (person.enabled and not known.enabled):
            self._people[person.key] = person

    def add_unidentified(self, item: Unidentified) -> None:
        self._unidentified.setdefault(item.source_id, item)

    def read(self, source: str, group: str, detail: str = "") -> GroupRead:
        health = Health.PARTIAL if self.partial else Health.OK
        notes = "; ".join(self.partial[:5]) + (
            f"; and {len(self.partial) - 5} more" if len(self.partial) > 5 else ""
        )
        return GroupRead(
            source=source,
            group=group,
            health=health,
            members=tuple(sorted(self._people.values(), key=lambda p: p.key)),
            detail=notes or detail,
            unidentified=tuple(self._unidentified.values()),
            skipped=self.skipped,
        )


def missing(source: str, group: str, detail: str) -> GroupRead:
    return GroupRead(source, group, Health.MISSING, detail=detail)


def did_you_mean(name: str, candidates: Sequence[str]) -> str:
    folded = {c.casefold(): c for c in candidates}
    hints = difflib.get_close_matches(name.casefold(), list(folded), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(folded[h]) for h in hints)}?" if hints else ""
