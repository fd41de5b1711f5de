"""Reading one AD group's people, exactly as AD holds them, or saying precisely why not.

The read, in five requests or request loops (all values placed in filters are escaped; every subtree search
is paged, `page_size` ≤ 1000 entries a page):

1. **Resolve** the group: a DN is read with a base search; a name is looked up by `sAMAccountName` or `cn`
   under `base_dn`. No match, or more than one, is `MISSING` with the reason — never an empty group.
2. **Direct members** (`member`) with range retrieval (`member;range=lo-hi`, MS-ADTS 3.1.1.3.1.3.3: AD
   returns at most MaxValRange values per request and says where it stopped), followed to the end.
3. **Nested groups** with one paged subtree search using LDAP_MATCHING_RULE_IN_CHAIN restricted to groups,
   `(&(objectClass=group)(memberOf:1.2.840.113556.1.4.1941:=<group DN>))` (MS-ADTS 3.1.1.3.4.4): the DC
   walks the nesting, cycles included; the groups' `memberOf` values give the nesting path (`Person.via`).
   Then each nested group's `member` values, ranged as in step 2 (for the completeness check below).
4. **Members** with plain equality filters over the group and its nested groups,
   `(|(memberOf=<group DN>)(memberOf=<nested DN>)…)`, at most 100 DNs a filter, results deduplicated:
   direct membership of any group of the closure is transitive membership of the group.
5. **Primary-group members**: AD never lists a user under `member` of their primary group, at any level,
   so users whose `primaryGroupID` is the RID (= `primaryGroupToken`) of the group or of any nested group
   are read too.

Steps 3 and 4 return the same entries as one IN_CHAIN search over everything, `(memberOf:…1941:=<group
DN>)`, when every group of the chain is under `base_dn` and readable. IN_CHAIN also walks through a group it
does not return (outside `base_dn`, or not readable), and its members would be missing from step 4. So every
`member` value of the group and of each nested group must have come back, as a nested group from step 3 or
as an entry from step 4 (a group that turns up only in step 4 does not count). If one did not, step 4 is
replaced by that IN_CHAIN search over everything (users *and* nested groups, whose `memberOf` values give the
paths), which returns what the DC's own walk finds; the read then costs that search on top.

Then the completeness check, over every level: each `member` value of the group and of every nested group
must have come back. Nested groups outside `base_dn` are looked for with the IN_CHAIN group search from the
domain root (the DC= part of `base_dn`), and their own `member` values join the check; the groups holding a
value still missing are read once more (a member removed during the read is not a miss). Anything left —
a person outside `base_dn`, a group of another domain, an entry the bind account cannot read — makes the read
`PARTIAL`, naming each DN, the group that lists it and why, because a short read must never look complete;
none of the members at all (a DC that silently ignores IN_CHAIN, as OpenLDAP does) is `ERROR`.

Why not IN_CHAIN for the members too (as syncd did before): Samba evaluates the rule by scanning the objects
under `base_dn` (no index serves it). Measured on the bench DC (10,000 users in 15 nested groups), that
search took 15–23 s against 5–7 s for step 4, while step 3 took 0.03 s (ldb picks the candidates by the
indexed `objectClass` first) and the nested groups' `member` values 0.07 s. On Active Directory `memberOf`
is an indexed back-link and IN_CHAIN is fast too, so both forms are cheap there. The result is the same;
what differs, on AD as on Samba, is the requests:
- one ranged `member` read per nested group (a few requests per group; a structure of thousands of nested
  groups costs thousands of small requests);
- a member that is not found (outside `base_dn`, e.g. a user or group of another domain, or unreadable)
  sends the read to the IN_CHAIN search as well, so such a group costs both searches on every read;
- a member removed *during* the read, between its group's `member` read and step 4, also sends the read to
  the IN_CHAIN search (one added in that window is found or not, as with any read that is not a snapshot).
"""

from __future__ import annotations

import re
import struct
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog
from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from syncd.models import GroupRead, Health, Person, Unidentified
from syncd.sources.ldap_connection import RESULT_NO_SUCH_OBJECT, Directory, Entry, LdapFailure, Page
from syncd.sources.ldap_person import (
    EXPIRY_ATTRIBUTES,
    IDENTIFIER_ATTRIBUTES,
    PERSON_ATTRIBUTES,
    inactive_reason,
    to_person,
)
from syncd.sources.ldap_settings import LdapSettings, looks_like_dn
from syncd.sources.members import MAX_PAGES, did_you_mean

log = structlog.get_logger("syncd.sources.ldap")

IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN (MS-ADTS 3.1.1.3.4.4)
GROUP_ATTRIBUTES = ("objectClass", "objectSid", "sAMAccountName", "cn")
# values per ranged request: Microsoft advises at most 1000 for portability (MaxValRange is 1500 since
# Windows Server 2003, 1000 before); a DC that returns fewer says so in the key and we continue from there
RANGE_STEP = 1000
MAX_RANGE_ROUNDS = 100_000  # 100 million values: far beyond any group, but a bound on a misbehaving DC
RIDS_PER_FILTER = 100
GROUPS_PER_FILTER = 100  # memberOf alternatives per filter (step 4)
NESTED_ATTRIBUTES = (*GROUP_ATTRIBUTES, "memberOf")
AMBIGUITY_LIST = 10
_RANGE_KEY = re.compile(r"^[^;]+;range=(\d+)-(\d+|\*)$", re.IGNORECASE)
_RESULT_INVALID_DN = 34


@dataclass(frozen=True, slots=True)
class GroupRef:
    """A resolved group: its DN as the DC spells it, a short name for messages and paths, its RID."""

    dn: str
    name: str
    rid: int | None


class ReadFailed(Exception):
    """A read stopped part-way. `entries_read` tells PARTIAL (something was read) from ERROR."""

    def __init__(self, failure: LdapFailure, entries_read: int) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.entries_read = entries_read


@dataclass(slots=True)
class _Member:
    record: Person | Unidentified | None  # None: a disabled account with no address (skipped)
    parents: set[str]  # casefolded DNs of the groups holding it directly


@dataclass(frozen=True, slots=True)
class _Nested:
    dn: str  # as the DC spells it
    name: str
    rid: int | None
    parents: frozenset[str]


def _parents(entry: Entry) -> set[str]:
    """Casefolded DNs of the groups that hold `entry` directly (its memberOf values)."""
    return {v.decode("utf-8", "replace").casefold() for v in entry.values("memberOf")}


class _Found:
    """What the membership searches returned: people, nested groups, every DN seen, entries skipped."""

    def __init__(self, settings: LdapSettings, now: datetime) -> None:
        self._settings = settings
        self._now = now
        self.members: dict[str, _Member] = {}
        self.nested: dict[str, _Nested] = {}
        self.seen: set[str] = set()
        self.skipped = 0

    def take(self, entry: Entry, parents: set[str], *, groups: bool = True) -> None:
        """Record one entry; a repeat only adds parents. `groups=False`: a group is neither taken nor seen."""
        dn = entry.dn.casefold()
        classes = {c.casefold() for c in entry.texts("objectClass")}
        if "group" in classes:
            if groups:
                self.seen.add(dn)
                self.nested[dn] = _Nested(
                    entry.dn,
                    entry.text("sAMAccountName") or entry.text("cn") or entry.dn,
                    rid_of(entry),
                    frozenset(parents),
                )
            return
        if dn in self.seen:
            if dn in self.members:
                self.members[dn].parents |= parents
            return
        self.seen.add(dn)
        if "user" in classes and "computer" not in classes:
            settings = self._settings
            record = to_person(
                entry,
                settings.identity_attributes,
                include_disabled=settings.include_disabled,
                via=(),
                now=self._now,
            )
            if (
                isinstance(record, Unidentified)
                and not settings.include_disabled
                and inactive_reason(entry, self._now)
            ):
                self.skipped += 1  # a disabled or expired account without an address would not be selected
                self.members[dn] = _Member(None, parents)
            else:
                self.members[dn] = _Member(record, parents)
        else:
            # computers, gMSAs, contacts, foreign security principals: not licensable people
            self.skipped += 1


class _Closure:
    """The `member` values of the group and of every nested group read so far, for the completeness check."""

    def __init__(self, ref: GroupRef, direct: Sequence[str]) -> None:
        self.root = ref.dn.casefold()
        # group DN (casefolded) → (the group, its values: casefolded DN → DN as the DC spells it)
        self.groups: dict[str, tuple[GroupRef, dict[str, str]]] = {}
        self.add(ref, direct)

    def add(self, group: GroupRef, values: Sequence[str]) -> None:
        """Record (or replace, after a fresh read) the values of `group`."""
        self.groups[group.dn.casefold()] = (group, {v.casefold(): v for v in values})

    def has_read(self, group: str) -> bool:
        return group in self.groups

    def absent(self, seen: set[str]) -> dict[str, tuple[str, str]]:
        """Values that did not come back → (DN as spelled, name of the group listing it). A cycle back to
        the group itself is not a miss."""
        absent: dict[str, tuple[str, str]] = {}
        for group, values in self.groups.values():
            for dn, spelled in values.items():
                if dn not in seen and dn != self.root:
                    absent.setdefault(dn, (spelled, group.name))
        return absent

    def holders(self, dns: set[str]) -> list[GroupRef]:
        return [group for group, values in self.groups.values() if dns & values.keys()]


def _components(dn: str) -> list[tuple[str, str]]:
    return [(a.casefold(), v.casefold()) for a, v, _ in parse_dn(dn, escape=False, strip=True)]


def is_under(dn: str, base: str) -> bool:
    """Whether `dn` is `base` or below it (RDN by RDN, case-insensitive); an unparseable DN is not."""
    try:
        inner, outer = _components(dn), _components(base)
    except LDAPInvalidDnError:
        return False
    return len(inner) >= len(outer) and inner[len(inner) - len(outer) :] == outer


def domain_root(base_dn: str) -> str | None:
    """The domain naming context holding base_dn (its trailing DC= components), when base_dn is narrower;
    None when base_dn is the domain itself (or has no DC= components)."""
    try:
        parts = parse_dn(base_dn, escape=False, strip=True)
    except LDAPInvalidDnError:
        return None
    tail: list[str] = []
    for attribute, value, _ in reversed(parts):
        if attribute.casefold() != "dc":
            break
        tail.insert(0, f"DC={value}")
    if not tail or len(tail) == len(parts):
        return None
    return ",".join(tail)


_SID = re.compile(r"^S-1-(\d+)((?:-\d+){1,15})$", re.IGNORECASE)


def sid_bytes(text: str) -> bytes | None:
    """A SID in its string form ("S-1-5-21-…") as objectSid holds it (MS-DTYP 2.4.2: revision, count,
    48-bit big-endian authority, little-endian 32-bit sub-authorities); None when `text` is not one."""
    match = _SID.match(text.strip())
    if match is None:
        return None
    authority = int(match.group(1))
    subs = [int(part) for part in match.group(2).split("-")[1:]]
    if authority >= 1 << 48 or any(sub >= 1 << 32 for sub in subs):
        return None
    return bytes([1, len(subs)]) + authority.to_bytes(6, "big") + b"".join(struct.pack("<I", n) for n in subs)


def escape_bytes(value: bytes) -> str:
    """Every byte as \\xx: a binary value in a filter (RFC 4515)."""
    return "".join(f"\\{b:02x}" for b in value)


def rid_of(entry: Entry) -> int | None:
    """The relative identifier: the last sub-authority of objectSid (little-endian uint32, MS-DTYP 2.4.2)."""
    sid = entry.values("objectSid")
    if not sid or len(sid[0]) < 12:
        return None
    value: int = struct.unpack("<I", bytes(sid[0][-4:]))[0]
    return value


SIMILAR_LISTED = 100  # groups fetched (one page) to suggest names for a missing one


class MembershipReader:
    """Reads groups through one `Directory`. Not thread-safe; one read at a time."""

    def __init__(
        self,
        directory: Directory,
        settings: LdapSettings,
        *,
        range_step: int = RANGE_STEP,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._directory = directory
        self._settings = settings
        self._range_step = range_step
        self._clock = clock
        self._now = clock()
        self._entries_read = 0
        attributes = [
            *PERSON_ATTRIBUTES,
            *EXPIRY_ATTRIBUTES,
            "objectSid",
            "memberOf",
            "primaryGroupID",
            *settings.identity_attributes,
            *IDENTIFIER_ATTRIBUTES,
        ]
        self._member_attributes = tuple(dict.fromkeys(a.casefold() for a in attributes))

    def read(self, group: str) -> GroupRead:
        """The group's people with health OK or MISSING (or PARTIAL after the cross-check).

        Raises ReadFailed when a request fails part-way (the caller may reconnect and try again)."""
        self._entries_read = 0
        self._now = self._clock()  # accountExpires is judged against the time of the read
        try:
            resolved = self._resolve(group)
            if isinstance(resolved, str):
                return GroupRead(self._settings.name, group, Health.MISSING, detail=resolved)
            direct = self._direct_members(resolved)
            return self._transitive(group, resolved, direct)
        except LdapFailure as failure:
            raise ReadFailed(failure, self._entries_read) from None

    # -- 1. resolve --------------------------------------------------------------------------------
    def _resolve(self, group: str) -> GroupRef | str:
        """The group, or the reason it is MISSING."""
        directory = self._directory
        if any(ord(c) < 32 or ord(c) == 127 for c in group):
            # some servers end a filter value at an escaped NUL (\00): "Team\x00x" would match "Team"
            return f"group name {group!r} contains control characters"
        if looks_like_dn(group):
            try:
                page = directory.search(
                    group, "(objectClass=*)", GROUP_ATTRIBUTES, scope="base", step=f"looking up group {group}"
                )
            except LdapFailure as failure:
                if failure.result_code in (RESULT_NO_SUCH_OBJECT, _RESULT_INVALID_DN):
                    return f"no entry with DN {group!r} on {directory.url} (renamed, moved or mistyped?)"
                raise
            if not page.entries:
                return f"no entry with DN {group!r} on {directory.url}"
            entry = page.entries[0]
            classes = {c.casefold() for c in entry.texts("objectClass")}
            if "group" not in classes:
                kind = "a user" if "user" in classes else "not a group"
                return f"{group} is {kind} (objectClass {', '.join(entry.texts('objectClass'))})"
            return self._ref(entry)
        # a SID (Azure DevOps Server names Windows groups so) is matched on objectSid, a name on
        # sAMAccountName or cn; either must name exactly one group under base_dn
        sid = sid_bytes(group)
        if sid is not None:
            return self._resolve_sid(group, sid)
        value = escape_filter_chars(group)
        page = self._groups_where(
            f"(|(sAMAccountName={value})(cn={value}))", AMBIGUITY_LIST, f"looking up group {group!r}"
        )
        if not page.entries:
            return (
                f"no group with sAMAccountName or cn {group!r} under {self._settings.base_dn}"
                + did_you_mean(group, self._names_like(group))
            )
        if len(page.entries) > 1 or page.cookie:
            more = "+" if page.cookie else ""
            names = "; ".join(e.dn for e in page.entries)
            return (
                f"{group!r} names {len(page.entries)}{more} groups ({names}); "
                "name the group by its distinguished name instead"
            )
        return self._ref(page.entries[0])

    def _groups_where(self, condition: str, limit: int, step: str) -> Page:
        """One page (at most `limit`) of the groups under base_dn meeting the (escaped) filter `condition`."""
        return self._directory.search(
            self._settings.base_dn,
            f"(&(objectClass=group){condition})",
            GROUP_ATTRIBUTES,
            scope="subtree",
            page_size=limit,
            step=step,
        )

    def _names_like(self, group: str) -> list[str]:
        """Names of groups that start like `group` (its first three characters, escaped): candidates for
        "did you mean". One page, bounded; a failure here only loses the hint."""
        prefix = escape_filter_chars(group[:3])
        try:
            page = self._groups_where(
                f"(|(sAMAccountName={prefix}*)(cn={prefix}*))",
                SIMILAR_LISTED,
                f"looking for groups named like {group!r}",
            )
        except LdapFailure:
            return []
        names = [(e.texts("sAMAccountName") or e.texts("cn") or [""])[0] for e in page.entries]
        return [n for n in names if n]

    def _resolve_sid(self, group: str, sid: bytes) -> GroupRef | str:
        """A group named by its SID (Azure DevOps Server names Windows groups so): objectSid under base_dn."""
        page = self._groups_where(
            f"(objectSid={escape_bytes(sid)})", AMBIGUITY_LIST, f"looking up group {group}"
        )
        if not page.entries:
            return f"no group with objectSid {group} under {self._settings.base_dn}"
        return self._ref(page.entries[0])

    @staticmethod
    def _ref(entry: Entry) -> GroupRef:
        name = entry.text("sAMAccountName") or entry.text("cn") or entry.dn
        return GroupRef(entry.dn, name, rid_of(entry))

    # -- 2. direct members, ranged ---------------------------------------------------------------------
    def _direct_members(self, group: GroupRef) -> list[str]:
        members: list[str] = []
        low = 0
        for _ in range(MAX_RANGE_ROUNDS):
            high = low + self._range_step - 1
            page = self._directory.search(
                group.dn,
                "(objectClass=*)",
                [f"member;range={low}-{high}"],
                scope="base",
                step=f"reading member values {low}-{high} of {group.name}",
            )
            if not page.entries:
                raise LdapFailure(f"reading member values of {group.name} failed: the group disappeared")
            found = page.entries[0].ranged("member")
            if found is None:
                break  # no values at or after `low`: AD omits the attribute, Samba sends an empty range
            key, values = found
            members.extend(v.decode("utf-8", "replace") for v in values)
            self._entries_read += len(values)
            if ";" not in key:
                break  # the DC ignored the range and sent every value
            match = _RANGE_KEY.match(key)
            if match is None or int(match.group(1)) != low:
                raise LdapFailure(
                    f"reading member values of {group.name} from {self._directory.url} failed: "
                    f"asked for values from {low}, got {key!r}"
                )
            if match.group(2) == "*":
                break
            end = int(match.group(2))
            if end < low:
                raise LdapFailure(
                    f"reading member values of {group.name} failed: range {key!r} went backwards"
                )
            low = end + 1
        else:
            raise LdapFailure(
                f"reading member values of {group.name} did not finish in {MAX_RANGE_ROUNDS} requests"
            )
        return members

    # -- 3, 4 and 5. nested groups, their members, primary-group members ------------------------------
    def _paged(
        self, ldap_filter: str, step: str, attributes: Sequence[str] | None = None, *, base: str = ""
    ) -> Iterator[Entry]:
        cookie = b""
        for _ in range(MAX_PAGES):
            page = self._directory.search(
                base or self._settings.base_dn,
                ldap_filter,
                self._member_attributes if attributes is None else attributes,
                scope="subtree",
                page_size=self._settings.page_size,
                cookie=cookie,
                step=step,
            )
            for entry in page.entries:
                self._entries_read += 1
                yield entry
            cookie = page.cookie
            if not cookie:
                return
        raise LdapFailure(f"{step} did not finish in {MAX_PAGES} pages")

    def _transitive(self, group: str, ref: GroupRef, direct: Sequence[str]) -> GroupRead:
        settings = self._settings
        closure = _Closure(ref, direct)
        found = self._by_member_of(ref, closure)
        if found is None:
            found = _Found(settings, self._now)
            chain_filter = f"(memberOf:{IN_CHAIN}:={escape_filter_chars(ref.dn)})"
            for entry in self._paged(chain_filter, f"reading the nested members of {ref.name}"):
                found.take(entry, _parents(entry))
        absent = self._complete(ref, found, closure)
        nested = found.nested

        rid_groups = {ref.rid: ref.dn.casefold()} if ref.rid is not None else {}
        rid_groups.update({n.rid: dn for dn, n in nested.items() if n.rid is not None})
        rids = sorted(rid_groups)
        for start in range(0, len(rids), RIDS_PER_FILTER):
            chunk = rids[start : start + RIDS_PER_FILTER]
            alternatives = "".join(f"(primaryGroupID={rid})" for rid in chunk)
            primary_filter = f"(&(objectClass=user)(!(objectClass=computer))(|{alternatives}))"
            for entry in self._paged(primary_filter, f"reading the primary-group members of {ref.name}"):
                parents = _parents(entry)
                rid_text = entry.text("primaryGroupID")
                if rid_text and rid_text.isdigit() and int(rid_text) in rid_groups:
                    parents.add(rid_groups[int(rid_text)])
                found.take(entry, parents)

        people, unidentified = self._with_paths(ref, found.members, nested)
        skipped = found.skipped
        base = settings.base_dn
        if absent and not found.seen and any(is_under(dn, base) for dn, _ in absent.values()):
            # members under base_dn, and not one came back: the DC does not evaluate the rule
            return GroupRead(
                settings.name,
                group,
                Health.ERROR,
                detail=(
                    f"{self._directory.url} returned none of the {len(direct)} direct members of {ref.name} "
                    f"to the nested-membership search: it does not evaluate LDAP_MATCHING_RULE_IN_CHAIN "
                    f"({IN_CHAIN}); syncd needs Active Directory (or Samba AD)"
                ),
            )
        if absent:
            return GroupRead(
                settings.name,
                group,
                Health.PARTIAL,
                members=people,
                unidentified=unidentified,
                skipped=skipped,
                detail=self._absent_detail(ref, absent),
            )
        return GroupRead(
            settings.name, group, Health.OK, members=people, unidentified=unidentified, skipped=skipped
        )

    def _by_member_of(self, ref: GroupRef, closure: _Closure) -> _Found | None:
        """Steps 3 and 4: the nested groups by IN_CHAIN, their members by `memberOf` equality. None when a
        `member` value of the group or of a nested group did not come back (the caller then asks IN_CHAIN)."""
        found = _Found(self._settings, self._now)
        group_filter = f"(&(objectClass=group)(memberOf:{IN_CHAIN}:={escape_filter_chars(ref.dn)}))"
        for entry in self._paged(group_filter, f"reading the nested groups of {ref.name}", NESTED_ATTRIBUTES):
            found.take(entry, _parents(entry))
        groups = [ref.dn]
        for dn, nested in sorted(found.nested.items()):
            if dn == closure.root:
                continue  # a cycle back to the group itself: its members are known
            groups.append(nested.dn)
            self._read_members_into(closure, nested)
        for start in range(0, len(groups), GROUPS_PER_FILTER):
            alternatives = [
                f"(memberOf={escape_filter_chars(dn)})" for dn in groups[start : start + GROUPS_PER_FILTER]
            ]
            member_filter = alternatives[0] if len(alternatives) == 1 else f"(|{''.join(alternatives)})"
            for entry in self._paged(member_filter, f"reading the nested members of {ref.name}"):
                found.take(entry, _parents(entry), groups=False)
        absent = closure.absent(found.seen)
        if absent:
            log.info(
                "nested members read again with IN_CHAIN",
                source=self._settings.name,
                group=ref.dn,
                not_found=len(absent),
                example=min(absent),
            )
            return None
        return found

    def _read_members_into(self, closure: _Closure, nested: _Nested) -> None:
        group = GroupRef(nested.dn, nested.name, None)
        closure.add(group, self._direct_members(group))

    def _complete(self, ref: GroupRef, found: _Found, closure: _Closure) -> dict[str, tuple[str, str]]:
        """Every `member` value of every group of the closure that did not come back, → the name of the
        group that lists it. Nested groups whose values were not read yet (found only by the IN_CHAIN
        search) are read first; groups outside base_dn are looked for across the whole domain (IN_CHAIN
        restricted to groups from the domain root), so their own members are checked too. Last, the groups
        holding a value still missing are read again: a member removed during the read is not a miss."""
        for dn, nested in sorted(found.nested.items()):
            if not closure.has_read(dn):
                self._read_members_into(closure, nested)
        absent = closure.absent(found.seen)
        domain = domain_root(self._settings.base_dn)
        if absent and domain is not None:
            group_filter = f"(&(objectClass=group)(memberOf:{IN_CHAIN}:={escape_filter_chars(ref.dn)}))"
            step = f"looking for the nested groups of {ref.name} outside base_dn"
            for entry in self._paged(group_filter, step, NESTED_ATTRIBUTES, base=domain):
                dn = entry.dn.casefold()
                if dn not in found.nested:
                    found.take(entry, _parents(entry))
                    if dn in found.nested and not closure.has_read(dn):
                        self._read_members_into(closure, found.nested[dn])
            absent = closure.absent(found.seen)
        if absent:
            for group in closure.holders(set(absent)):
                closure.add(group, self._direct_members(group))
            absent = closure.absent(found.seen)
        return absent

    def _absent_detail(self, ref: GroupRef, absent: dict[str, tuple[str, str]]) -> str:
        base = self._settings.base_dn
        shown = []
        for dn in sorted(absent)[:AMBIGUITY_LIST]:
            spelled, holder = absent[dn]
            if is_under(spelled, base):
                why = "not returned: not readable by the bind account, or removed during the read"
            else:
                why = f"outside base_dn {base}"
            shown.append(f"{spelled} (member of {holder}: {why})")
        more = f"; and {len(absent) - len(shown)} more" if len(absent) > len(shown) else ""
        return (
            f"{len(absent)} member(s) of {ref.name} or of its nested groups were not read: "
            f"{'; '.join(shown)}{more}; widen base_dn, let the bind account read them, "
            "or remove them from the group"
        )

    @staticmethod
    def _with_paths(
        ref: GroupRef, members: dict[str, _Member], nested: dict[str, _Nested]
    ) -> tuple[tuple[Person, ...], tuple[Unidentified, ...]]:
        """Give each person the shortest nesting path from the group (breadth-first over the nested
        groups' memberOf, ties broken by name, so the result is deterministic)."""
        root = ref.dn.casefold()
        children: dict[str, list[str]] = {}
        for dn, group in nested.items():
            for parent in group.parents:
                if parent == root or parent in nested:
                    children.setdefault(parent, []).append(dn)
        paths: dict[str, tuple[str, ...]] = {root: ()}
        queue = deque([root])
        while queue:
            current = queue.popleft()
            for child in sorted(children.get(current, ()), key=lambda dn: nested[dn].name.casefold()):
                if child not in paths:
                    paths[child] = (*paths[current], nested[child].name)
                    queue.append(child)
        people: dict[str, Person] = {}
        unidentified: list[Unidentified] = []
        for member in members.values():
            record = member.record
            if isinstance(record, Person):
                options = [paths[p] for p in member.parents if p in paths]
                via = min(options, key=_path_order) if options else ()
                person = replace(record, via=via)
                # two accounts with one address (an admin and a normal account) are one person: enabled
                # wins over disabled (active somewhere = active), then the shorter path, then the GUID
                known = people.get(person.key)
                if known is None or _person_order(person) < _person_order(known):
                    people[person.key] = person
            elif isinstance(record, Unidentified):
                unidentified.append(record)
        unidentified.sort(key=lambda u: (u.display_name.casefold(), u.source_id))
        return tuple(people[key] for key in sorted(people)), tuple(unidentified)


def _path_order(path: tuple[str, ...]) -> tuple[int, list[str]]:
    return len(path), [name.casefold() for name in path]


def _person_order(person: Person) -> tuple[bool, tuple[int, list[str]], str]:
    return not person.enabled, _path_order(person.via), person.source_id


def failed_read(source: str, group: str, error: ReadFailed, note: str = "") -> GroupRead:
    """A read that stopped: PARTIAL when some entries had been read, ERROR when none; never OK."""
    health = Health.PARTIAL if error.entries_read else Health.ERROR
    detail = str(error.failure)
    if error.entries_read:
        detail += f" after {error.entries_read} entries"
    if note:
        detail += f"; {note}"
    return GroupRead(source, group, health, detail=detail)
