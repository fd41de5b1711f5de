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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from syncd.config import IdentitySettings
from syncd.identity import EmailKey, normalise_email, normalise_identifier
from syncd.models import Ambiguous, LicensedUser, Renamed
from syncd.reconcile import Owned
from syncd.rules import Selection


@dataclass(frozen=True)
class Matching:
    """The plan's inputs re-keyed by person, and what the ledger must learn."""

    desired: dict[EmailKey, Selection]  # ambiguous people left out; `email` = what a new seat is written as
    licensed: dict[EmailKey, LicensedUser]  # a matched row under its person's key; others under their own
    owned: dict[EmailKey, Owned]  # the ledger under today's keys
    renamed: tuple[Renamed, ...] = ()
    ambiguous: tuple[Ambiguous, ...] = ()
    ambiguous_seats: int = 0
    rekey: dict[EmailKey, EmailKey] = field(default_factory=dict)  # ledger/observation keys: old → new
    refresh: dict[EmailKey, Owned] = field(default_factory=dict)  # ledger entries with new ids to record
    how: dict[EmailKey, str] = field(default_factory=dict)  # person → how their row matched, when not by key

    def with_ids(self, key: EmailKey, owned: Owned) -> Owned:
        """A ledger entry about to be recorded, with the row's and the person's ids when it has none."""
        if owned.target_id and owned.person_id:
            return owned
        row = self.licensed.get(key)
        selection = self.desired.get(key)
        person = selection.person if selection is not None else None
        return replace(
            owned,
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
) -> Matching:
    canon: Callable[[str], str] = settings.domain_aliases.canonical

    # -- the rows' identifiers ---------------------------------------------------------------------------
    row_of: dict[str, EmailKey] = {}  # identifier → the one row carrying it
    shared: dict[str, list[EmailKey]] = {}  # identifiers two rows carry
    by_target_id: dict[str, EmailKey] = {}

    def index(identifier: str, row_key: EmailKey) -> None:
        known = row_of.setdefault(identifier, row_key)
        if known != row_key:
            shared.setdefault(identifier, [known]).append(row_key)

    for row_key, row in licensed.items():
        index(canon(row_key), row_key)
        if row.unique_name and row.unique_name != row.email:
            unique = normalise_identifier(row.unique_name)
            if unique is not None:
                index(canon(unique), row_key)
        if row.vsts_id:
            vsts = normalise_identifier(row.vsts_id)
            if vsts is not None:
                index(vsts, row_key)
        if row.target_id:
            by_target_id[row.target_id] = row_key

    # -- links: person → rows (identifiers first, then the ledger) ---------------------------------------
    rows_of: dict[EmailKey, EmailKey | set[EmailKey]] = {}
    how: dict[EmailKey, str] = {}
    claimed: dict[EmailKey, EmailKey | set[EmailKey]] = {}  # row → person(s)

    def link(person: EmailKey, row_key: EmailKey, why: str) -> None:
        _add(rows_of, person, row_key)
        _add(claimed, row_key, person)
        if why:
            how.setdefault(person, why)

    by_person_id: dict[str, EmailKey] = {}
    for key, selection in desired.items():
        person = selection.person
        own = canon(key)
        found = row_of.get(own)
        if found is not None:
            link(key, found, "" if found == key else f"e-mail {key} = 7pace {_shown(licensed[found])}")
        if own in shared:
            for other in shared[own]:
                link(key, other, f"e-mail {key} = 7pace {_shown(licensed[other])}")
        if person is None:
            continue
        if person.source_id:
            by_person_id[person.source_id] = key
        for alias in person.aliases:
            identifier = canon(alias)
            found = row_of.get(identifier)
            if found is not None:
                link(key, found, f"{alias} = 7pace {_shown(licensed[found])}")
            for other in shared.get(identifier, ()):
                link(key, other, f"{alias} = 7pace {_shown(licensed[other])}")

    # the ledger: which row (by 7pace id, else by the key it was recorded under) belongs to which person (by
    # immutable id, else by key)
    entry_row: dict[EmailKey, EmailKey] = {}
    entry_person: dict[EmailKey, EmailKey] = {}
    for entry_key, owned in ledger.items():
        seat = by_target_id.get(owned.target_id) if owned.target_id else None
        if seat is None and entry_key in licensed:
            seat = entry_key
        holder = by_person_id.get(owned.person_id) if owned.person_id else None
        if holder is None and entry_key in desired:
            holder = entry_key
        if seat is not None:
            entry_row[entry_key] = seat
        if holder is not None:
            entry_person[entry_key] = holder
            if seat is not None and not _has(rows_of, holder, seat):
                link(holder, seat, f"ledger: seat {_shown(licensed[seat])} recorded for them")

    # -- ambiguity: close over people with two rows and rows with two people -------------------------------
    bad_people = {p for p, rows in rows_of.items() if isinstance(rows, set)}
    bad_rows = {r for r, people in claimed.items() if isinstance(people, set)}
    ambiguous: list[Ambiguous] = []
    if bad_people or bad_rows:
        ambiguous = _components(bad_people, bad_rows, rows_of, claimed, desired, licensed)

    # -- the re-keyed inputs -----------------------------------------------------------------------------
    pair: dict[EmailKey, EmailKey] = {  # row → its one person
        row_key: people
        for row_key, people in claimed.items()
        if row_key not in bad_rows and not isinstance(people, set) and people not in bad_people
    }
    paired = set(pair.values())
    licensed_out: dict[EmailKey, LicensedUser] = {}
    for row_key, row in licensed.items():
        if row_key in bad_rows:
            continue
        licensed_out.setdefault(pair.get(row_key, row_key), row)
    desired_out = _written(desired, bad_people, settings)

    owned_out: dict[EmailKey, Owned] = {}
    rekey: dict[EmailKey, EmailKey] = {}
    refresh: dict[EmailKey, Owned] = {}
    renamed: list[Renamed] = []
    for entry_key, owned in ledger.items():
        seat = entry_row.get(entry_key)
        holder = entry_person.get(entry_key)
        if (seat is not None and seat in bad_rows) or (holder is not None and holder in bad_people):
            owned_out.setdefault(entry_key, owned)
            continue
        if seat is not None and seat in pair:
            new = pair[seat]
        elif holder is not None:
            new = holder
        else:
            new = seat if seat is not None else entry_key
        if new in owned_out and new != entry_key:
            continue  # an older entry for the same seat: the one under today's key wins
        owned_out[new] = owned
        matched_row = licensed_out.get(new) if new in paired else None
        chosen = desired.get(new)
        if new != entry_key:
            rekey[entry_key] = new
            if chosen is not None:
                renamed.append(_renamed(new, entry_key, owned, chosen, matched_row))
        ids = (
            matched_row.target_id if matched_row is not None else owned.target_id,
            matched_row.vsts_id if matched_row is not None else owned.vsts_id,
            chosen.person.source_id
            if chosen is not None and chosen.person is not None and chosen.person.source_id
            else owned.person_id,
        )
        if ids != (owned.target_id, owned.vsts_id, owned.person_id):
            fresh = replace(owned, target_id=ids[0], vsts_id=ids[1], person_id=ids[2])
            owned_out[new] = refresh[new] = fresh

    return Matching(
        desired=desired_out,
        licensed=licensed_out,
        owned=owned_out,
        renamed=tuple(sorted(renamed, key=lambda r: r.key)),
        ambiguous=tuple(ambiguous),
        ambiguous_seats=len(bad_rows),
        rekey=rekey,
        refresh=refresh,
        how=how,
    )


def _add(links: dict[EmailKey, EmailKey | set[EmailKey]], key: EmailKey, value: EmailKey) -> None:
    """One value per key, a set once there are two (most people have exactly one row)."""
    known = links.get(key)
    if known is None:
        links[key] = value
    elif isinstance(known, set):
        known.add(value)
    elif known != value:
        links[key] = {known, value}


def _has(links: Mapping[EmailKey, EmailKey | set[EmailKey]], key: EmailKey, value: EmailKey) -> bool:
    known = links.get(key)
    return known == value or (isinstance(known, set) and value in known)


def _each(value: EmailKey | set[EmailKey] | None) -> Iterable[EmailKey]:
    if value is None:
        return ()
    return value if isinstance(value, set) else (value,)


def _components(
    bad_people: set[EmailKey],
    bad_rows: set[EmailKey],
    rows_of: Mapping[EmailKey, EmailKey | set[EmailKey]],
    claimed: Mapping[EmailKey, EmailKey | set[EmailKey]],
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
                if key in people:
                    continue
                people.add(key)
                pending.extend(("r", r) for r in _each(rows_of.get(key)))
            else:
                if key in rows:
                    continue
                rows.add(key)
                pending.extend(("p", p) for p in _each(claimed.get(key)))
        seen_people |= people
        seen_rows |= rows
        why = (
            "one 7pace user matches several people"
            if any(isinstance(claimed.get(r), set) for r in rows)
            else "one person matches several 7pace users"
        )
        found.append(
            Ambiguous(
                people=tuple(f"{p} ({desired[p].display_name or desired[p].email})" for p in sorted(people)),
                rows=tuple(_shown(licensed[r]) for r in sorted(rows)),
                seats=len(rows),
                why=why,
            )
        )
    bad_people |= seen_people
    bad_rows |= seen_rows
    return found


def _shown(row: LicensedUser) -> str:
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
    return Renamed(key, before, selection.display_name, how, row.target_id if row is not None else "")


def _written(
    desired: Mapping[EmailKey, Selection], ambiguous: set[EmailKey], settings: IdentitySettings
) -> dict[EmailKey, Selection]:
    """Ambiguous people out; with `[identity] match`, each person's e-mail becomes the identifier a new seat
    is written as (the first of the listed kinds the person has)."""
    order = settings.match
    if not order and not ambiguous:
        return dict(desired)
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
        if kind == "upn" and person.upn:
            return person.upn
        if kind == "proxy_addresses":
            upn = normalise_email(person.upn)
            for alias in person.aliases:
                if alias != upn and normalise_email(alias) is not None:
                    return alias
    return selection.email
