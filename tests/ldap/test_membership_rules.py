"""The membership algorithm against AD behaviours Samba does not reproduce (directory-server.md: Samba
neither ranges `member` on its own nor caps pages at 1000): a small in-memory directory that answers
the reader's requests the way AD does. Everything else is tested against real Samba."""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from syncd.config_section import Section
from syncd.models import Health, Person
from syncd.sources.ldap_connection import Entry, LdapFailure, Page
from syncd.sources.ldap_membership import IN_CHAIN, MembershipReader, ReadFailed, failed_read, sid_bytes
from syncd.sources.ldap_person import identity, source_id, to_person
from syncd.sources.ldap_settings import LdapSettings, parse_ldap_settings

BASE = "DC=corp,DC=example,DC=com"
DOMAIN_SID = b"\x01\x05\x00\x00\x00\x00\x00\x05\x15\x00\x00\x00" + b"\x11" * 12


def settings(**overrides: object) -> LdapSettings:
    values: dict[str, object] = {"url": "ldaps://dc1.corp.example.com", "bind_user": "svc", "base_dn": BASE}
    values.update(overrides)
    problems: list[str] = []
    section = Section(
        {**values, "bind_password": {"file": __file__}}, "sources[0]", Path("/x.toml"), problems
    )
    result = parse_ldap_settings(section, "corp")
    assert [p for p in problems if "readable by group" not in p] == []
    return result


@dataclass
class Request:
    base: str
    ldap_filter: str
    attributes: tuple[str, ...]
    scope: str
    page_size: int | None
    cookie: bytes


@dataclass
class FakeAD:
    """Objects by DN; `member` lists on groups; memberOf computed. MaxValRange and MaxPageSize as AD's."""

    objects: dict[str, dict[str, list[bytes]]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    max_val_range: int = 1500
    max_page: int = 1000
    # False: a server without AD's memberOf (OpenLDAP without the memberof overlay): IN_CHAIN and memberOf
    # filters match nothing, with "success"; direct_member_of: memberOf equality works even so (the overlay)
    evaluates_in_chain: bool = True
    direct_member_of: bool | None = None
    fail_at_request: int | None = None  # 1-based; that request loses the connection
    requests: list[Request] = field(default_factory=list)
    url: str = "ldaps://fake-dc:636"
    _rid: int = 1100

    def user(self, name: str, suffix: str = BASE, **attributes: str | list[str]) -> str:
        dn = f"CN={name},OU=People,{suffix}"
        values = {k: [v.encode() for v in (x if isinstance(x, list) else [x])] for k, x in attributes.items()}
        values.setdefault("userAccountControl", [b"512"])
        values.setdefault("primaryGroupID", [b"513"])
        self.objects[dn.casefold()] = {
            "objectClass": [b"top", b"person", b"organizationalPerson", b"user"],
            "sAMAccountName": [name.encode()],
            "objectGUID": [uuid.uuid5(uuid.NAMESPACE_DNS, name).bytes_le],
            **values,
            "_dn": [dn.encode()],
        }
        return dn

    def group(self, name: str, members: Sequence[str] = (), ou: str = "OU=Groups", suffix: str = BASE) -> str:
        dn = f"CN={name},{ou},{suffix}"
        self._rid += 1
        self.objects[dn.casefold()] = {
            "objectClass": [b"top", b"group"],
            "sAMAccountName": [name.encode()],
            "cn": [name.encode()],
            "objectSid": [DOMAIN_SID + struct.pack("<I", self._rid)],
            "_dn": [dn.encode()],
        }
        self.members[dn.casefold()] = list(members)
        return dn

    def group_dn_escaped(self, name: str) -> str:
        return f"CN={name},OU=Groups,{BASE}"  # no filter metacharacters in these names

    def rid(self, dn: str) -> int:
        sid: bytes = self.objects[dn.casefold()]["objectSid"][0]
        value: int = struct.unpack("<I", sid[-4:])[0]
        return value

    def _entry(self, dn: str, attributes: Sequence[str]) -> Entry:
        stored = self.objects[dn.casefold()]
        wanted = {a.casefold() for a in attributes}
        values = {k: v for k, v in stored.items() if k.casefold() in wanted}
        if "memberof" in wanted:
            values["memberOf"] = [
                self.objects[g]["_dn"][0]
                for g, ms in self.members.items()
                if dn.casefold() in (m.casefold() for m in ms)
            ]
        return Entry(stored["_dn"][0].decode(), values)

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: str,
        step: str,
        page_size: int | None = None,
        cookie: bytes = b"",
    ) -> Page:
        self.requests.append(Request(base, ldap_filter, tuple(attributes), scope, page_size, cookie))
        if self.fail_at_request == len(self.requests):
            raise LdapFailure(
                f"{step} from {self.url} failed: the DC closed the connection", connection_lost=True
            )
        if scope == "base":
            if base.casefold() not in self.objects:
                raise LdapFailure(f"{step} failed: no such object (32)", result_code=32)
            ranged = [a for a in attributes if a.casefold().startswith("member;range=")]
            if ranged:
                low_text, high_text = ranged[0].split("=", 1)[1].split("-")
                low = int(low_text)
                values = self.members.get(base.casefold(), [])
                end = min(len(values), int(high_text) + 1, low + self.max_val_range)
                if low >= len(values):
                    return Page((Entry(base, {}),))
                key = f"member;range={low}-{'*' if end >= len(values) else end - 1}"
                return Page((Entry(base, {key: [v.encode() for v in values[low:end]]}),))
            return Page((self._entry(base, attributes),))
        found = [dn for dn in self._subtree(ldap_filter) if dn.endswith("," + base.casefold())]
        if page_size is None:
            if len(found) > self.max_page:
                raise LdapFailure(f"{step} failed: size limit exceeded (4)", result_code=4)
            return Page(tuple(self._entry(dn, attributes) for dn in found))
        offset = int(cookie or b"0")
        size = min(page_size, self.max_page)  # AD silently cuts larger pages to MaxPageSize
        chunk = found[offset : offset + size]
        more = offset + size < len(found)
        return Page(
            tuple(self._entry(dn, attributes) for dn in chunk), str(offset + size).encode() if more else b""
        )

    def _subtree(self, ldap_filter: str) -> list[str]:
        """Matching DNs anywhere (the caller keeps those under the search base): IN_CHAIN walks groups
        outside it too, as AD does."""
        chain = re.fullmatch(rf"(\(&\(objectClass=group\))?\(memberOf:{IN_CHAIN}:=([^()]*)\)\)?", ldap_filter)
        if chain:
            if not self.evaluates_in_chain:
                return []
            group = _unescape(chain.group(2)).casefold()
            seen: list[str] = []
            pending = list(self.members.get(group, []))
            while pending:
                dn = pending.pop(0).casefold()
                if dn in seen or dn not in self.objects:
                    continue
                seen.append(dn)
                pending.extend(self.members.get(dn, []))
            if chain.group(1):
                return [dn for dn in seen if b"group" in self.objects[dn]["objectClass"]]
            return seen
        assert f":{IN_CHAIN}:" not in ldap_filter, ldap_filter
        member_of = re.fullmatch(r"\(memberOf=([^()]*)\)|\(\|((?:\(memberOf=[^()]*\))+)\)", ldap_filter)
        if member_of:
            evaluates = self.evaluates_in_chain if self.direct_member_of is None else self.direct_member_of
            if not evaluates:
                return []
            values = (
                [member_of.group(1)]
                if member_of.group(1) is not None
                else re.findall(r"\(memberOf=([^()]*)\)", member_of.group(2))
            )
            held = {m.casefold() for v in values for m in self.members.get(_unescape(v).casefold(), ())}
            return [dn for dn in self.objects if dn in held]
        rids = {int(r) for r in re.findall(r"\(primaryGroupID=(\d+)\)", ldap_filter)}
        if rids:
            return [
                dn
                for dn, o in self.objects.items()
                if b"user" in o["objectClass"] and int(o.get("primaryGroupID", [b"0"])[0]) in rids
            ]
        name = re.search(r"\(sAMAccountName=([^)]*)\)", ldap_filter)
        assert name, ldap_filter
        wanted = _unescape(name.group(1)).casefold()
        return [
            dn
            for dn, o in self.objects.items()
            if b"group" in o["objectClass"]
            and wanted in {o["sAMAccountName"][0].decode().casefold(), o["cn"][0].decode().casefold()}
        ]


def _unescape(value: str) -> str:
    return re.sub(r"\\([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def keys(people: Sequence[Person]) -> list[str]:
    return [p.key for p in people]


# -- ranging and paging as AD does them ----------------------------------------------------------------


def test_ranged_member_read_continues_where_ad_stopped() -> None:
    ad = FakeAD()
    users = [ad.user(f"u{i:04d}", mail=f"u{i:04d}@corp.example.com") for i in range(3700)]
    ad.group("Big", users)
    read = MembershipReader(ad, settings(), range_step=5000).read("Big")
    assert read.health is Health.OK
    assert keys(read.members) == [f"u{i:04d}@corp.example.com" for i in range(3700)]
    ranges = [
        r.attributes[0] for r in ad.requests if r.scope == "base" and r.attributes[0].startswith("member")
    ]
    # AD answered 1500 values each time whatever was asked; the reader asked again from where it stopped
    assert ranges == ["member;range=0-4999", "member;range=1500-6499", "member;range=3000-7999"]


def test_transitive_search_is_paged_at_most_1000_per_page() -> None:
    ad = FakeAD()
    users = [ad.user(f"u{i:04d}", mail=f"u{i:04d}@corp.example.com") for i in range(2500)]
    ad.group("Big", users)
    read = MembershipReader(ad, settings()).read("Big")
    assert read.health is Health.OK
    assert len(read.members) == 2500
    people = [r for r in ad.requests if r.ldap_filter.startswith("(memberOf=")]
    assert [(r.page_size, r.cookie) for r in people] == [(1000, b""), (1000, b"1000"), (1000, b"2000")]
    assert all(r.page_size is not None and r.page_size <= 1000 for r in ad.requests if r.scope == "subtree")


def test_connection_lost_in_a_later_range_request_is_partial_never_ok() -> None:
    ad = FakeAD(fail_at_request=3)  # 1: look up the group, 2: values 0-999, 3: values 1000-1999
    ad.group("Big", [ad.user(f"u{i:04d}", mail=f"u{i:04d}@corp.example.com") for i in range(2500)])
    with pytest.raises(ReadFailed) as caught:
        MembershipReader(ad, settings()).read("Big")
    assert caught.value.entries_read == 1000
    assert caught.value.failure.connection_lost
    read = failed_read("corp", "Big", caught.value)
    assert read.health is Health.PARTIAL
    assert read.members == ()
    assert read.detail == (
        "reading member values 1000-1999 of Big from ldaps://fake-dc:636 failed: the DC closed the connection "
        "after 1000 entries"
    )


def test_connection_lost_in_the_middle_of_the_paged_search_is_partial() -> None:
    ad = FakeAD(fail_at_request=6)  # 1 lookup, 2-3 ranges, 4 nested groups, 5 first page, 6 second page
    ad.group("Big", [ad.user(f"u{i:04d}", mail=f"u{i:04d}@corp.example.com") for i in range(1500)])
    with pytest.raises(ReadFailed) as caught:
        MembershipReader(ad, settings()).read("Big")
    assert caught.value.entries_read == 1500 + 1000
    assert "reading the nested members of Big" in str(caught.value)


def test_failure_before_anything_was_read_is_error() -> None:
    ad = FakeAD(fail_at_request=1)
    ad.group("Big")
    with pytest.raises(ReadFailed) as caught:
        MembershipReader(ad, settings()).read("Big")
    read = failed_read("corp", "Big", caught.value, "reconnecting failed: connection refused")
    assert read.health is Health.ERROR
    assert read.detail == (
        "looking up group 'Big' from ldaps://fake-dc:636 failed: the DC closed the connection; "
        "reconnecting failed: connection refused"
    )


# -- cross-checks that keep a short read from looking complete --------------------------------------------


def test_dc_that_ignores_in_chain_is_an_error_not_an_empty_group() -> None:
    ad = FakeAD(evaluates_in_chain=False)  # OpenLDAP answers such a filter with 0 entries and "success"
    ad.group("Team", [ad.user("ann", mail="ann@corp.example.com")])
    read = MembershipReader(ad, settings()).read("Team")
    assert read.health is Health.ERROR
    assert read.members == ()
    assert read.detail.startswith("ldaps://fake-dc:636 returned none of the 1 direct members of Team")


def test_direct_member_outside_base_dn_makes_the_read_partial() -> None:
    ad = FakeAD()
    ann = ad.user("ann", mail="ann@corp.example.com")
    ad.group("Team", [ann, "CN=bob,OU=Elsewhere,DC=other,DC=com"])
    read = MembershipReader(ad, settings()).read("Team")
    assert read.health is Health.PARTIAL
    assert keys(read.members) == ["ann@corp.example.com"]
    assert read.detail == (
        "1 member(s) of Team or of its nested groups were not read: CN=bob,OU=Elsewhere,DC=other,DC=com "
        f"(member of Team: outside base_dn {BASE}); widen base_dn, let the bind account read them, or remove "
        "them from the group"
    )


def test_empty_group_is_ok_and_empty() -> None:
    ad = FakeAD()
    ad.group("Nobody")
    read = MembershipReader(ad, settings()).read("Nobody")
    assert (read.health, read.members, read.detail) == (Health.OK, (), "")


# -- the memberOf read of the nested groups' members, and when it hands over to IN_CHAIN -----------------

OTHER = "DC=other,DC=corp,DC=example,DC=net"  # another domain: outside base_dn


class ChainOnlyReader(MembershipReader):
    """The reader as it was before the memberOf read: one IN_CHAIN search for users and nested groups."""

    def _by_member_of(self, ref: object, direct: object) -> None:
        return None


def chain_searches(ad: FakeAD) -> list[str]:
    """The IN_CHAIN searches over everything (not restricted to groups)."""
    return [r.ldap_filter for r in ad.requests if r.ldap_filter.startswith(f"(memberOf:{IN_CHAIN}:=")]


def test_nested_members_are_read_by_member_of_not_by_in_chain() -> None:
    ad = FakeAD()
    ann, bob = ad.user("ann", mail="ann@corp.example.com"), ad.user("bob", mail="bob@corp.example.com")
    inner = ad.group("Inner", [bob])
    ad.group("Outer", [ann, inner])
    read = MembershipReader(ad, settings()).read("Outer")
    assert read.health is Health.OK
    assert [(p.key, p.via) for p in read.members] == [
        ("ann@corp.example.com", ()),
        ("bob@corp.example.com", ("Inner",)),
    ]
    assert chain_searches(ad) == []
    subtree = [r.ldap_filter for r in ad.requests if r.scope == "subtree"]
    outer, inner_escaped = ad.group_dn_escaped("Outer"), ad.group_dn_escaped("Inner")
    assert subtree[1:3] == [
        f"(&(objectClass=group)(memberOf:{IN_CHAIN}:={outer}))",
        f"(|(memberOf={outer})(memberOf={inner_escaped}))",
    ]
    # Inner's member values were read, to check that everything in it came back
    assert [r.base for r in ad.requests if r.scope == "base"][-1] == inner


def test_many_nested_groups_are_read_at_most_100_a_filter_and_deduplicated() -> None:
    ad = FakeAD()
    ann = ad.user("ann", mail="ann@corp.example.com")  # in the first and in the last of the 150 groups
    teams = [
        ad.group(
            f"T{i:03d}",
            [ad.user(f"u{i:03d}", mail=f"u{i:03d}@corp.example.com"), *([ann] if i in (0, 149) else [])],
        )
        for i in range(150)
    ]
    ad.group("All", teams)
    read = MembershipReader(ad, settings()).read("All")
    assert read.health is Health.OK
    assert keys(read.members) == ["ann@corp.example.com", *(f"u{i:03d}@corp.example.com" for i in range(150))]
    assert {p.key: p.via for p in read.members}["ann@corp.example.com"] == ("T000",)
    filters = [r.ldap_filter for r in ad.requests if "(memberOf=" in r.ldap_filter]
    assert [f.count("(memberOf=") for f in filters] == [100, 51]  # All and T000…T149
    assert chain_searches(ad) == []


def test_cycle_through_the_group_itself_needs_no_in_chain_search() -> None:
    ad = FakeAD()
    x = ad.group("CycleX", [ad.user("ann", mail="ann@corp.example.com")])
    y = ad.group("CycleY", [x, ad.user("bob", mail="bob@corp.example.com")])
    ad.members[x.casefold()].append(y)
    read = MembershipReader(ad, settings()).read("CycleX")
    assert read.health is Health.OK
    assert [(p.key, p.via) for p in read.members] == [
        ("ann@corp.example.com", ()),
        ("bob@corp.example.com", ("CycleY",)),
    ]
    assert chain_searches(ad) == []


def far_chain(top: str = "Top") -> FakeAD:
    """Top ⊃ Mid ⊃ Far (another domain, not under base_dn) ⊃ ann; Mid ⊃ bob."""
    ad = FakeAD()
    ann = ad.user("ann", mail="ann@corp.example.com")
    far = ad.group("Far", [ann], suffix=OTHER)
    mid = ad.group("Mid", [far, ad.user("bob", mail="bob@corp.example.com")])
    ad.group(top, [mid])
    return ad


def test_group_of_another_domain_inside_the_chain_hands_over_to_in_chain_and_is_partial() -> None:
    # IN_CHAIN walks Far, which memberOf=Mid cannot see through; Far itself (another domain) cannot be read,
    # so whether every member of Far came back is unknown: partial, naming Far
    ad = far_chain()
    read = MembershipReader(ad, settings()).read("Top")
    assert read.health is Health.PARTIAL
    assert keys(read.members) == ["ann@corp.example.com", "bob@corp.example.com"]
    assert f"CN=Far,OU=Groups,{OTHER} (member of Mid: outside base_dn {BASE})" in read.detail
    assert chain_searches(ad) == [f"(memberOf:{IN_CHAIN}:={ad.group_dn_escaped('Top')})"]
    ad.requests.clear()
    assert read == ChainOnlyReader(ad, settings()).read("Top")


NARROW = f"OU=Teams,{BASE}"


def test_group_of_the_domain_outside_a_narrowed_base_dn_is_read_across_the_domain() -> None:
    # Top (in OU=Teams = base_dn) ⊃ Mid (OU=Groups: outside base_dn) ⊃ ann (inside): Mid is found by the
    # IN_CHAIN group search from the domain root, its member values are read, ann came back: ok
    ad = FakeAD()
    ann = ad.user("ann", suffix=NARROW, mail="ann@corp.example.com")
    mid = ad.group("Mid", [ann])
    ad.group("Top", [mid], ou="OU=Teams")
    read = MembershipReader(ad, settings(base_dn=NARROW)).read("Top")
    assert (read.health, read.detail) == (Health.OK, "")
    assert [(p.key, p.via) for p in read.members] == [("ann@corp.example.com", ("Mid",))]
    assert [r.base for r in ad.requests if r.scope == "subtree" and "objectClass=group" in r.ldap_filter][
        -1
    ] == BASE


def test_nested_member_outside_a_narrowed_base_dn_is_partial_at_any_depth() -> None:
    # Top ⊃ Mid ⊃ Deep ⊃ bob (OU=People of the domain: outside base_dn); ann inside
    ad = FakeAD()
    ann = ad.user("ann", suffix=NARROW, mail="ann@corp.example.com")
    bob = ad.user("bob", mail="bob@corp.example.com")
    deep = ad.group("Deep", [bob], ou="OU=Teams")
    mid = ad.group("Mid", [deep, ann], ou="OU=Teams")
    ad.group("Top", [mid], ou="OU=Teams")
    read = MembershipReader(ad, settings(base_dn=NARROW)).read("Top")
    assert read.health is Health.PARTIAL
    assert keys(read.members) == ["ann@corp.example.com"]
    assert f"{bob} (member of Deep: outside base_dn {NARROW})" in read.detail


def test_member_of_only_server_with_a_nested_group_is_an_error_not_a_short_read() -> None:
    # memberOf equality without IN_CHAIN (OpenLDAP's memberof overlay): the nested group's people would be
    # missing, so the read goes to IN_CHAIN, which finds nothing
    ad = FakeAD(evaluates_in_chain=False, direct_member_of=True)
    inner = ad.group("Inner", [ad.user("bob", mail="bob@corp.example.com")])
    ad.group("Team", [ad.user("ann", mail="ann@corp.example.com"), inner])
    read = MembershipReader(ad, settings()).read("Team")
    assert (read.health, read.members) == (Health.ERROR, ())
    assert read.detail.startswith("ldaps://fake-dc:636 returned none of the 2 direct members of Team")


def test_member_removed_during_the_read_hands_over_to_in_chain() -> None:
    ad = FakeAD()
    ann, bob = ad.user("ann", mail="ann@corp.example.com"), ad.user("bob", mail="bob@corp.example.com")
    inner = ad.group("Inner", [ann, bob])
    ad.group("Team", [inner])
    original = ad.search

    def search(base: str, ldap_filter: str, *args: object, **kwargs: object) -> Page:
        if ldap_filter.startswith("(|(memberOf="):
            ad.members[inner.casefold()] = [ann]  # bob leaves after Inner's member values were read
        return original(base, ldap_filter, *args, **kwargs)  # type: ignore[arg-type]

    ad.search = search  # type: ignore[method-assign]
    read = MembershipReader(ad, settings()).read("Team")
    assert (read.health, keys(read.members)) == (Health.OK, ["ann@corp.example.com"])
    assert len(chain_searches(ad)) == 1


def test_connection_lost_while_reading_a_nested_groups_members_is_partial() -> None:
    ad = FakeAD(fail_at_request=5)  # 1 lookup, 2 Team's values, 3 nested groups, 4 Inner's values 0-999, 5 …
    inner = ad.group("Inner", [ad.user(f"u{i:04d}", mail=f"u{i:04d}@corp.example.com") for i in range(1200)])
    ad.group("Team", [inner])
    ad.max_val_range = 1000
    with pytest.raises(ReadFailed) as caught:
        MembershipReader(ad, settings()).read("Team")
    assert caught.value.entries_read == 1 + 1 + 1000  # Team's one value, the nested group, 1000 values
    read = failed_read("corp", "Team", caught.value)
    assert (read.health, read.members) == (Health.PARTIAL, ())
    assert read.detail.startswith("reading member values 1000-1999 of Inner from ldaps://fake-dc:636 failed")


@st.composite
def directories(draw: st.DrawFn) -> FakeAD:
    """Random nesting (cycles included), groups and people outside base_dn, primary groups, non-people,
    disabled and unaddressed accounts, two accounts sharing an address."""
    ad = FakeAD()
    groups = draw(st.integers(1, 6))
    people = draw(st.integers(0, 6))
    # object 0 is the group read (under base_dn); about one object in five is outside
    outside = {
        i for i in range(1, groups + people) if draw(st.sampled_from([False, False, False, False, True]))
    }
    kinds = draw(
        st.lists(
            st.sampled_from(["mail", "shared", "none", "off-mail", "off-none", "contact", "computer"]),
            min_size=people,
            max_size=people,
        )
    )
    dns = [ad.group(f"G{g}", suffix=OTHER if g in outside else BASE) for g in range(groups)]
    for i, kind in enumerate(kinds):
        attributes: dict[str, str] = {}
        if kind in ("mail", "off-mail"):
            attributes["mail"] = f"p{i}@corp.example.com"
        if kind == "shared":
            attributes["mail"] = "Shared@corp.example.com"
        if kind.startswith("off"):
            attributes["userAccountControl"] = "514"
        primary = draw(st.none() | st.integers(0, groups - 1))
        if primary is not None:
            attributes["primaryGroupID"] = str(ad.rid(dns[primary]))
        dn = ad.user(f"p{i}", suffix=OTHER if groups + i in outside else BASE, **attributes)
        if kind in ("contact", "computer"):
            classes = ad.objects[dn.casefold()]["objectClass"]
            classes[:] = [b"top", b"person", b"contact"] if kind == "contact" else [*classes, b"computer"]
        dns.append(dn)
    for g in range(groups):
        anything = st.integers(0, len(dns) - 1)
        held = draw(st.lists(st.integers(0, groups - 1) | anything, min_size=1, max_size=4, unique=True))
        ad.members[dns[g].casefold()] = [dns[m] for m in sorted(held)]
    return ad


@hypothesis_settings(max_examples=300, deadline=None)
@given(directories())
@example(far_chain("G0"))
def test_member_of_read_gives_exactly_what_the_in_chain_read_gives(ad: FakeAD) -> None:
    fast = MembershipReader(ad, settings()).read("G0")
    used_chain = bool(chain_searches(ad))
    ad.requests.clear()
    chain = ChainOnlyReader(ad, settings()).read("G0")
    assert fast == chain
    if not any(dn.endswith(OTHER.casefold()) for dn in ad.objects):
        assert not used_chain  # everything under base_dn: the memberOf read sufficed


def outside_members(ad: FakeAD, group: str) -> list[str]:
    """The DNs outside base_dn listed by `group` or by any group under base_dn in its closure (which the DC
    walks through groups of the other domain too, as IN_CHAIN does): what a complete check must name."""
    closure: set[str] = set()
    pending = list(ad.members.get(group.casefold(), []))
    while pending:
        dn = pending.pop().casefold()
        if dn not in closure:
            closure.add(dn)
            pending.extend(ad.members.get(dn, []))
    readable = {group.casefold()} | {
        dn for dn in closure if dn.endswith(BASE.casefold()) and dn in ad.members
    }
    listed = {m.casefold() for g in readable for m in ad.members[g]}
    return sorted(dn for dn in listed if not dn.endswith(BASE.casefold()))


@hypothesis_settings(max_examples=300, deadline=None)
@given(directories())
def test_a_read_is_ok_exactly_when_every_member_at_every_level_came_back(ad: FakeAD) -> None:
    root = f"CN=G0,OU=Groups,{BASE}"
    outside = outside_members(ad, root)
    read = MembershipReader(ad, settings()).read("G0")
    if not outside:
        assert (read.health, read.detail) == (Health.OK, "")
    else:
        assert read.health is Health.PARTIAL, (read.health, read.detail)
        assert read.detail.startswith(f"{len(outside)} member(s) of G0 or of its nested groups were not read")
        shown = outside[:10]
        assert all(dn in read.detail.casefold() for dn in shown), (shown, read.detail)


# -- escaping, primary groups, paths, duplicates -------------------------------------------------------


def test_group_names_are_escaped_in_filters() -> None:
    ad = FakeAD()
    ad.group("Real")
    read = MembershipReader(ad, settings()).read("*)(cn=*")
    assert read.health is Health.MISSING
    assert ad.requests[0].ldap_filter == (
        r"(&(objectClass=group)(|(sAMAccountName=\2a\29\28cn=\2a)(cn=\2a\29\28cn=\2a)))"
    )


def test_group_dn_is_escaped_in_the_in_chain_and_member_of_filters() -> None:
    ad = FakeAD()
    dn = ad.group(r"R&D (EU) \2a", [ad.user("ann", mail="ann@corp.example.com")])
    read = MembershipReader(ad, settings()).read(dn)
    assert read.health is Health.OK
    assert keys(read.members) == ["ann@corp.example.com"]
    escaped = rf"CN=R&D \28EU\29 \5c2a,OU=Groups,{BASE}"
    assert [r.ldap_filter for r in ad.requests if r.scope == "subtree"] == [
        rf"(&(objectClass=group)(memberOf:{IN_CHAIN}:={escaped}))",
        rf"(memberOf={escaped})",
        f"(&(objectClass=user)(!(objectClass=computer))(|(primaryGroupID={ad.rid(dn)})))",
    ]


def test_primary_group_members_of_nested_groups_are_found_with_their_path() -> None:
    ad = FakeAD()
    inner = ad.group("Inner")
    outer = ad.group("Outer", [inner])
    ad.user("pat", mail="pat@corp.example.com", primaryGroupID=str(ad.rid(inner)))
    ad.user("oli", mail="oli@corp.example.com", primaryGroupID=str(ad.rid(outer)))
    read = MembershipReader(ad, settings()).read("Outer")
    assert read.health is Health.OK
    assert [(p.key, p.via) for p in read.members] == [
        ("oli@corp.example.com", ()),
        ("pat@corp.example.com", ("Inner",)),
    ]
    primary = [r.ldap_filter for r in ad.requests if "primaryGroupID" in r.ldap_filter]
    rids = sorted([ad.rid(inner), ad.rid(outer)])
    assert primary == [
        f"(&(objectClass=user)(!(objectClass=computer))(|(primaryGroupID={rids[0]})(primaryGroupID={rids[1]})))"
    ]


def test_shortest_path_wins_and_ties_break_by_name() -> None:
    ad = FakeAD()
    ann = ad.user("ann", mail="ann@corp.example.com")
    deep = ad.group("Deep", [ann])
    b = ad.group("B", [deep])
    a = ad.group("A", [ann])
    ad.group("Top", [b, a])
    read = MembershipReader(ad, settings()).read("Top")
    assert [(p.key, p.via) for p in read.members] == [("ann@corp.example.com", ("A",))]


def test_two_accounts_with_one_address_are_one_person_enabled_wins() -> None:
    ad = FakeAD()
    admin = ad.user("ann-admin", mail="Ann@corp.example.com", userAccountControl="514")
    normal = ad.user("ann", mail="ann@corp.example.com")
    ad.group("Team", [admin, normal])
    read = MembershipReader(ad, settings()).read("Team")
    assert [(p.key, p.enabled, p.email) for p in read.members] == [
        ("ann@corp.example.com", True, "ann@corp.example.com")
    ]


def test_non_people_are_skipped_and_disabled_unaddressed_are_only_counted() -> None:
    ad = FakeAD()
    computer = ad.user("ws01$")
    ad.objects[computer.casefold()]["objectClass"].append(b"computer")
    ghost = ad.user("ghost", userAccountControl="514")
    nomail = ad.user("nomail", displayName="No Mail")
    ad.group("Team", [computer, ghost, nomail])
    read = MembershipReader(ad, settings()).read("Team")
    assert read.members == ()
    assert [(u.display_name, u.detail) for u in read.unidentified] == [
        ("No Mail", "nomail: no usable e-mail address in mail, userPrincipalName, proxyAddresses")
    ]
    assert read.skipped == 2


# -- one account → one person --------------------------------------------------------------------------


def entry(**attributes: str | list[str] | bytes) -> Entry:
    values: dict[str, list[bytes]] = {}
    for key, value in attributes.items():
        if isinstance(value, bytes):
            values[key] = [value]
        elif isinstance(value, list):
            values[key] = [v.encode() for v in value]
        else:
            values[key] = [value.encode()]
    return Entry("CN=x,DC=corp", values)


def test_identity_attributes_are_tried_in_order() -> None:
    attributes = ("mail", "userPrincipalName", "proxyAddresses")
    assert identity(entry(mail="N/A", userPrincipalName="Ann@Corp.Example.com"), attributes) == (
        "ann@corp.example.com",
        "Ann@Corp.Example.com",
    )
    assert identity(entry(userPrincipalName="ann@corp.example.com"), ("mail",)) is None


def test_only_the_primary_smtp_proxy_address_counts() -> None:
    attributes = ("proxyAddresses",)
    both = entry(proxyAddresses=["smtp:alias@corp.example.com", "SMTP:Ann.Lee@Corp.Example.com", "X500:/o=x"])
    assert identity(both, attributes) == ("ann.lee@corp.example.com", "Ann.Lee@Corp.Example.com")
    assert identity(entry(proxyAddresses=["smtp:alias@corp.example.com"]), attributes) is None


def test_object_guid_is_the_source_id_and_disabled_bit_is_read() -> None:
    guid = uuid.UUID("0b3bd2f8-1c39-4a54-9d4f-4b5c2b5f9c01")
    person = to_person(
        entry(
            objectGUID=guid.bytes_le,
            mail="ann@corp.example.com",
            userAccountControl="66050",
            displayName="Ann",
        ),
        ("mail",),
        include_disabled=False,
        via=(),
    )
    assert person == Person(
        key="ann@corp.example.com",  # type: ignore[arg-type]
        email="ann@corp.example.com",
        display_name="Ann",
        source_id="0b3bd2f8-1c39-4a54-9d4f-4b5c2b5f9c01",
        enabled=False,  # 66050 = 0x10202: NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD | ACCOUNTDISABLE
        inactive="account disabled in Active Directory",
    )
    assert source_id(entry(objectGUID=guid.bytes_le)) == str(guid)
    enabled = to_person(
        entry(mail="a@b.example", userAccountControl="514"), ("mail",), include_disabled=True, via=()
    )
    assert isinstance(enabled, Person) and enabled.enabled


# -- accountExpires ------------------------------------------------------------------------------------

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires", "enabled", "inactive"),
    [
        ("0", True, ""),  # never
        ("9223372036854775807", True, ""),  # 0x7FFFFFFFFFFFFFFF: never
        (None, True, ""),  # not set
        ("132223104000000000", False, "account expired 2020-01-01 00:00 UTC (accountExpires)"),
        ("134244000000000000", False, "account expired 2026-05-28 00:00 UTC (accountExpires)"),
        ("134270784000000000", True, ""),  # 2026-06-28: not yet
        ("not a number", True, ""),
    ],
)
def test_account_expires_is_judged_like_disabled(expires: str | None, enabled: bool, inactive: str) -> None:
    values = {"mail": "ann@corp.example.com"} | ({"accountExpires": expires} if expires else {})
    person = to_person(entry(**values), ("mail",), include_disabled=False, via=(), now=NOW)
    assert isinstance(person, Person)
    assert (person.enabled, person.inactive) == (enabled, inactive)
    kept = to_person(entry(**values), ("mail",), include_disabled=True, via=(), now=NOW)
    assert isinstance(kept, Person) and kept.enabled and kept.inactive == ""


def test_a_sid_in_string_form_is_the_objectsid_bytes() -> None:
    assert sid_bytes("S-1-5-21-286331153-286331153-286331153-1101") == DOMAIN_SID + struct.pack("<I", 1101)
    assert sid_bytes("s-1-5-32-544") == bytes([1, 2, 0, 0, 0, 0, 0, 5]) + struct.pack("<II", 32, 544)
    for text in ("S-1-5", "S-1-5-21-4294967296", "CN=S-1-5-21-1,DC=x", "Team S-1-5-21-1"):
        assert sid_bytes(text) is None, text
