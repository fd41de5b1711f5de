"""Which 7pace row is which person (issue 16): every identifier a person has, and the ledger's stable ids.

A pure step between the desired roles and the plan. Three kinds of evidence link a selected person to a
row holding a seat:
- an identifier: the row's e-mail, unique name or vstsId equals any identifier of the person (their key,
  UPN, proxy and other addresses, principal names), compared as `identity.normalise_identifier` keys after
  `[identity] domain_aliases`;
- the ledger: syncd recorded this seat for this person, by the person's immutable id (objectGUID, object
  id, descriptor, the file's `id`) and the row's 7pace id. This is what carries a seat through a rename:
  the e-mail changed, the ids did not.
A person linked to exactly one row, and that row to no one else, is matched: the plan treats them as one
key (the person's). A row linked to two people, or a person linked to two rows, is *ambiguous*: neither
side is acted upon and the seats count as held, because guessing costs a seat or a licence.

Everything here is dictionaries keyed by identifier: O(people × identifiers + rows), no pairwise work.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from syncd.config import IdentitySettings
from syncd.identity import EmailKey, normalise_email, normalise_identifier
from syncd.models import Ambiguous, LicensedUser, Owned, Renamed
from syncd.rules import Selection


@dataclass(frozen=True)
class Matching:
    """The plan's inputs re-keyed by person, and what the ledger must learn."""

    # ambiguous people left out; `email` is what a new seat is written as
    desired: Mapping[EmailKey, Selection]
    # a matched row under its person's key, the others under their own
    licensed: Mapping[EmailKey, LicensedUser]
    # the ledger under today's keys
    owned: Mapping[EmailKey, Owned]
    # (each of the three is its input itself when nothing changed: no copies of 100,000 entries)
    renamed: tuple[Renamed, ...] = ()
    ambiguous: tuple[Ambiguous, ...] = ()
    ambiguous_seats: int = 0
    rekey: dict[EmailKey, EmailKey] = field(default_factory=dict)  # ledger/observation keys: old → new
    refresh: dict[EmailKey, Owned] = field(default_factory=dict)  # ledger entries with new ids to record
    how: dict[EmailKey, str] = field(default_factory=dict)  # person → how their row matched, when not by key
    dropped: frozenset[EmailKey] = frozenset()  # ledger entries superseded by one under today's key

    def with_ids(self, key: EmailKey, owned: Owned) -> Owned:
        """A ledger entry about to be recorded, with the row's and the person's ids when it has none."""
        if owned.target_id and owned.person_id:
            return owned
        row = self.licensed.get(key)
        selection = self.desired.get(key)
        person = selection.person if selection is not None else None
        return owned._replace(
            target_id=owned.target_id or (row.target_id if row is not None else ""),
            vsts_id=owned.vsts_id or (row.vsts_id if row is not None else ""),
            person_id=owned.person_id or (person.source_id if person is not None else ""),
        )

    def identifiers(self, key: EmailKey) -> tuple[str, ...]:
        """Every identifier used for this person's change: theirs, the row's, and how they matched."""
        selection = self.desired.get(key)
        row = self.licensed.get(key)
        found: list[str] = []
        if selection is not None:
            found.append(f"key:{selection.key}")
            person = selection.person
            if person is not None:
                if person.upn:
                    found.append(f"upn:{person.upn}")
                found.extend(f"alias:{alias}" for alias in person.aliases)
                if person.source_id:
                    found.append(f"id:{person.source_id}")
            if selection.email.casefold() != selection.key:
                found.append(f"written:{selection.email}")
        if row is not None:
            if row.email and row.email != row.unique_name:
                found.append(f"7pace.email:{row.email}")
            if row.unique_name:
                found.append(f"7pace.uniqueName:{row.unique_name}")
            if row.target_id:
                found.append(f"7pace.id:{row.target_id}")
        how = self.how.get(key)
        if how:
            found.append(f"matched:{how}")
        return tuple(found)


def match_people(
    desired: Mapping[EmailKey, Selection],
    licensed: Mapping[EmailKey, LicensedUser],
    ledger: Mapping[EmailKey, Owned],
    settings: IdentitySettings,
    ids_known: Collection[EmailKey] | None = None,
) -> Matching:
    """`ids_known`: the ledger entries that carry their ids (None: all). The others were loaded without them
    because their key is both a row's and a selected person's, which settles the match (the state loads ids
    only where it does not)."""
    # Most people hold the row keyed by their own key: those "trivial" links are implicit (a key in both
    # `desired` and `licensed`); only the other links are recorded, so 100,000 people cost a few lookups each.
    aliases = settings.domain_aliases
    canon: Callable[[str], str] | None = aliases.canonical if aliases else None

    # -- the rows' identifiers other than their key ------------------------------------------------------
    row_of: dict[str, EmailKey] = {}  # identifier → the one row carrying it
    shared: dict[str, list[EmailKey]] = {}  # identifiers two rows carry
    # vstsIds are indexed on first use, by a person alias that could be one (neither an address nor a
    # DOMAIN\user name): most sources know no vstsId, and 100,000 of them cost 15 MB
    by_vsts: dict[str, EmailKey] | None = None

    def index(identifier: str, row_key: EmailKey) -> None:
        known = row_of.setdefault(identifier, row_key)
        if known != row_key:
            shared.setdefault(identifier, [known]).append(row_key)

    for row_key, row in licensed.items():
        if canon is not None and (folded := canon(row_key)) != row_key:
            index(folded, row_key)
        if row.unique_name and row.unique_name != row.email:
            unique = normalise_identifier(row.unique_name)
            if unique is not None and unique != row_key:
                index(canon(unique) if canon is not None else unique, row_key)

    # -- links other than person key = row key -----------------------------------------------------------
    extra_rows: dict[EmailKey, set[EmailKey]] = {}  # person → rows
    extra_claims: dict[EmailKey, set[EmailKey]] = {}  # row → people
    how: dict[EmailKey, str] = {}

    def link(person: EmailKey, row_key: EmailKey, why: str) -> None:
        if row_key == person:
            return
        extra_rows.setdefault(person, set()).add(row_key)
        extra_claims.setdefault(row_key, set()).add(person)
        how.setdefault(person, f"{why} = 7pace {shown_row(licensed[row_key])}")

    def look_up(person: EmailKey, identifier: EmailKey) -> None:
        if identifier != person and identifier in licensed:
            link(person, identifier, identifier)
        folded = EmailKey(canon(identifier)) if canon is not None else identifier
        if folded != identifier and folded in licensed:
            link(person, folded, identifier)
        if row_of:
            found = row_of.get(folded)
            if found is not None:
                link(person, found, identifier)
            for other in shared.get(folded, ()):
                link(person, other, identifier)

    indirect = bool(row_of) or canon is not None  # else only another row's own key can match an alias
    for key, selection in desired.items():
        if indirect:
            look_up(key, key)
        person = selection.person
        if person is not None:
            for alias in person.aliases:
                if indirect:
                    look_up(key, alias)
                elif alias in licensed:
                    link(key, alias, alias)
                if "@" not in alias and "\\" not in alias:
                    if by_vsts is None:
                        by_vsts = {_folded_id(r.vsts_id): k for k, r in licensed.items() if r.vsts_id}
                    found = by_vsts.get(alias)
                    if found is not None:
                        link(key, found, alias)

    # -- the ledger: the row recorded for the seat (by 7pace id) and its person (by immutable id) ------------
    ids_of_rows: dict[str, EmailKey] | None = None
    ids_of_people: dict[str, EmailKey] | None = None
    entry_links: dict[EmailKey, tuple[EmailKey | None, EmailKey | None]] = {}  # only when not both the key
    # entries held by their own key whose ids are to be recorded
    stale: list[tuple[EmailKey, Owned, LicensedUser, str]] = []
    # entries outside `ids_known` are held by their own key on both sides: nothing to learn from them
    for entry_key in ledger if ids_known is None else ids_known:
        owned = ledger.get(entry_key)
        if owned is None:
            continue
        held = licensed.get(entry_key)
        seat: EmailKey | None = entry_key
        if held is None or (owned.target_id and held.target_id and held.target_id != owned.target_id):
            seat = None
            if owned.target_id:
                if ids_of_rows is None:
                    ids_of_rows = {r.target_id: k for k, r in licensed.items() if r.target_id}
                seat = ids_of_rows.get(owned.target_id)
        wanted = desired.get(entry_key)
        person = wanted.person if wanted is not None else None
        person_id = person.source_id if person is not None else ""
        holder: EmailKey | None = entry_key
        if wanted is None or (owned.person_id and person_id and person_id != owned.person_id):
            holder = None
            if owned.person_id:
                if ids_of_people is None:
                    ids_of_people = {pid: k for k, s in desired.items() if (pid := _person_id(s))}
                holder = ids_of_people.get(owned.person_id)
        if seat != entry_key or holder != entry_key:
            entry_links[entry_key] = (seat, holder)
            if seat is not None and holder is not None:
                link(holder, seat, "the ledger (the seat syncd recorded for them)")
        elif held is not None and (
            held.target_id != owned.target_id or (person_id and person_id != owned.person_id)
        ):
            stale.append((entry_key, owned, held, person_id))  # (vstsId is recorded, never compared)

    # -- ambiguity: a person with two rows, a row with two people -------------------------------------------
    bad_people = {p for p, rows in extra_rows.items() if len(rows) > 1 or p in licensed}
    bad_rows = {r for r, people in extra_claims.items() if len(people) > 1 or r in desired}
    ambiguous: list[Ambiguous] = []
    if bad_people or bad_rows:

        def rows_of(person: EmailKey) -> set[EmailKey]:
            return extra_rows.get(person, set()) | ({person} if person in licensed else set())

        def claimed(row_key: EmailKey) -> set[EmailKey]:
            return extra_claims.get(row_key, set()) | ({row_key} if row_key in desired else set())

        ambiguous = _components(bad_people, bad_rows, rows_of, claimed, desired, licensed)

    # -- the re-keyed inputs -----------------------------------------------------------------------------
    moved = {
        row_key: next(iter(people))
        for row_key, people in extra_claims.items()
        if row_key not in bad_rows and len(people) == 1 and next(iter(people)) not in bad_people
    }
    licensed_out: Mapping[EmailKey, LicensedUser] = licensed  # no copy of 100,000 rows when nothing moves
    if moved or bad_rows:
        rekeyed = {k: r for k, r in licensed.items() if k not in bad_rows and k not in moved}
        rekeyed.update((person, licensed[row_key]) for row_key, person in moved.items())
        licensed_out = rekeyed
    desired_out = _written(desired, bad_people, settings)

    owned_out = _CopyOnWrite(ledger)
    rekey: dict[EmailKey, EmailKey] = {}
    refresh: dict[EmailKey, Owned] = {}
    renamed: list[Renamed] = []
    dropped: set[EmailKey] = set()
    for entry_key, owned, held, person_id in stale:  # the seat and the person under the entry's own key
        if entry_key not in bad_rows and entry_key not in bad_people:
            fresh = _with_ids(owned, held, person_id)
            owned_out.put(entry_key, fresh)
            refresh[entry_key] = fresh
    destinations: dict[EmailKey, EmailKey] = {}  # renames, seats gone, people gone: where each entry goes
    for entry_key, (seat, holder) in entry_links.items():
        if (seat is not None and seat in bad_rows) or (holder is not None and holder in bad_people):
            continue
        if seat is not None and seat in moved:
            destinations[entry_key] = moved[seat]
        elif holder is not None:
            destinations[entry_key] = holder
        else:
            destinations[entry_key] = seat if seat is not None else entry_key
    leaving = {k for k, new in destinations.items() if new != k}  # (two people may swap addresses)
    taken: set[EmailKey] = set()
    for entry_key, new in destinations.items():
        if new != entry_key and ((new in ledger and new not in leaving) or new in taken):
            dropped.add(entry_key)  # an older entry for the same seat: the one under today's key wins
        else:
            taken.add(new)
    for entry_key in leaving:
        owned_out.pop(entry_key)
    for entry_key, new in destinations.items():
        if entry_key in dropped:
            continue
        owned = ledger[entry_key]
        chosen = desired.get(new)
        matched_row = licensed_out.get(new) if chosen is not None else None
        if new != entry_key:
            owned_out.put(new, owned)
            rekey[entry_key] = new
            if chosen is not None:
                renamed.append(_renamed(new, entry_key, owned, chosen, matched_row))
        person_id = _person_id(chosen) if chosen is not None else ""
        if matched_row is not None and (
            matched_row.target_id != owned.target_id or (person_id and person_id != owned.person_id)
        ):
            fresh = _with_ids(owned, matched_row, person_id)
            owned_out.put(new, fresh)
            refresh[new] = fresh

    return Matching(
        desired=desired_out,
        licensed=licensed_out,
        owned=owned_out.mapping,
        renamed=tuple(sorted(renamed, key=lambda r: r.key)),
        ambiguous=tuple(ambiguous),
        ambiguous_seats=len(bad_rows),
        rekey=rekey,
        refresh=refresh,
        how=how,
        dropped=frozenset(dropped),
    )


class _CopyOnWrite:
    """The ledger as given until the first change, then a copy (a steady-state run changes nothing)."""

    def __init__(self, original: Mapping[EmailKey, Owned]) -> None:
        self.mapping = original
        self._copied = False

    def _own(self) -> dict[EmailKey, Owned]:
        if not self._copied:
            self.mapping = dict(self.mapping)
            self._copied = True
        assert isinstance(self.mapping, dict)
        return self.mapping

    def pop(self, key: EmailKey) -> None:
        self._own().pop(key, None)

    def put(self, key: EmailKey, owned: Owned) -> None:
        self._own()[key] = owned


def _with_ids(owned: Owned, row: LicensedUser, person_id: str) -> Owned:
    return owned._replace(
        target_id=row.target_id, vsts_id=row.vsts_id, person_id=person_id or owned.person_id
    )


def _person_id(selection: Selection) -> str:
    person = selection.person
    return person.source_id if person is not None else ""


def _folded_id(text: str) -> str:
    """A GUID-like id as `normalise_identifier` folds it (case, braces), without its cost per row."""
    folded = text.strip().casefold()
    return folded[1:-1] if folded.startswith("{") and folded.endswith("}") else folded


def _components(
    bad_people: set[EmailKey],
    bad_rows: set[EmailKey],
    rows_of: Callable[[EmailKey], set[EmailKey]],
    claimed: Callable[[EmailKey], set[EmailKey]],
    desired: Mapping[EmailKey, Selection],
    licensed: Mapping[EmailKey, LicensedUser],
) -> list[Ambiguous]:
    """Grow both sets to every person and row linked to them (in place), one Ambiguous per component."""
    found: list[Ambiguous] = []
    seen_people: set[EmailKey] = set()
    seen_rows: set[EmailKey] = set()
    starts = [("p", p) for p in sorted(bad_people)] + [("r", r) for r in sorted(bad_rows)]
    for side, start in starts:
        if start in (seen_people if side == "p" else seen_rows):
            continue
        people: set[EmailKey] = set()
        rows: set[EmailKey] = set()
        pending = [(side, start)]
        while pending:
            kind, key = pending.pop()
            if kind == "p":
                if key not in people:
                    people.add(key)
                    pending.extend(("r", r) for r in rows_of(key))
            elif key not in rows:
                rows.add(key)
                pending.extend(("p", p) for p in claimed(key))
        seen_people |= people
        seen_rows |= rows
        why = (
            "one 7pace user matches several people"
            if any(len(claimed(r)) > 1 for r in rows)
            else "one person matches several 7pace users"
        )
        found.append(
            Ambiguous(
                people=tuple(f"{p} ({desired[p].display_name or desired[p].email})" for p in sorted(people)),
                rows=tuple(shown_row(licensed[r]) for r in sorted(rows)),
                seats=len(rows),
                why=why,
                keys=tuple(sorted(people)),
            )
        )
    bad_people |= seen_people
    bad_rows |= seen_rows
    return found


def shown_row(row: LicensedUser) -> str:
    """A row as the plan names it: its e-mail (or unique name) and 7pace id."""
    name = row.email or row.unique_name
    return f"{name} (id {row.target_id})" if row.target_id else name


def _renamed(
    key: EmailKey, before: EmailKey, owned: Owned, selection: Selection, row: LicensedUser | None
) -> Renamed:
    person = selection.person
    if owned.person_id and person is not None and person.source_id == owned.person_id:
        how = f"same immutable id {owned.person_id}"
    elif row is not None and owned.target_id and row.target_id == owned.target_id:
        how = f"same 7pace user {owned.target_id}"
    else:
        how = "the seat recorded for them"
    person_id = person.source_id if person is not None else owned.person_id
    return Renamed(
        key, before, selection.display_name, how, row.target_id if row is not None else "", person_id
    )


def _written(
    desired: Mapping[EmailKey, Selection], ambiguous: set[EmailKey], settings: IdentitySettings
) -> Mapping[EmailKey, Selection]:
    """Ambiguous people out; with `[identity] match`, each person's e-mail becomes the identifier a new seat
    is written as (the first of the listed kinds the person has)."""
    order = settings.match
    if not order and not ambiguous:
        return desired
    result: dict[EmailKey, Selection] = {}
    for key, selection in desired.items():
        if key in ambiguous:
            continue
        if order and selection.person is not None:
            written = _first_identifier(selection, order)
            if written and written != selection.email:
                selection = replace(selection, email=written)
        result[key] = selection
    return result


def _first_identifier(selection: Selection, order: Iterable[str]) -> str:
    person = selection.person
    assert person is not None
    for kind in order:
        if kind == "mail":
            return selection.email
        if kind == "upn" and normalise_email(person.upn) is not None:  # not an on-prem DOMAIN\user name
            return person.upn
        if kind == "proxy_addresses":
            upn = normalise_email(person.upn)
            for alias in person.aliases:
                if alias != upn and normalise_email(alias) is not None:
                    return alias
    return selection.email
