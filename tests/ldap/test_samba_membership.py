"""Group membership read from a real Samba AD DC: exact member sets, not counts."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from syncd.models import GroupRead, Health
from syncd.sources.ldap import LdapSource

pytestmark = pytest.mark.samba


def by_key(read: GroupRead) -> dict[str, bool]:
    assert len({p.key for p in read.members}) == len(read.members), "members must be de-duplicated"
    return {p.key: p.enabled for p in read.members}


def unidentified_accounts(read: GroupRead) -> set[str]:
    return {u.detail.split(":", 1)[0] for u in read.unidentified}


@pytest.fixture(scope="module")
def reads(samba: object) -> dict[str, GroupRead]:
    """Cache: each read costs up to ~1 s on Samba (it indexes neither IN_CHAIN nor memberOf), so read each
    group once."""
    return {}


@pytest.fixture
def read(make_source: Callable[..., LdapSource], reads: dict[str, GroupRead]) -> Callable[[str], GroupRead]:
    source = make_source()

    def read_group(group: str) -> GroupRead:
        if group not in reads:
            reads[group] = source.read_group(group)
        return reads[group]

    return read_group


def test_nested_chain_gives_every_level_with_disabled_marked(
    read: Callable[[str], GroupRead], dataset: ModuleType
) -> None:
    result = read("GroupA")
    assert (result.health, result.detail, result.source, result.group) == (Health.OK, "", "corp", "GroupA")
    assert by_key(result) == dataset.expected_members("GroupA")
    # spot values written out, so a wrong spec cannot agree with a wrong reader
    members = by_key(result)
    assert members["user00000@example.com"] is False  # disabled
    assert members["user00001@example.com"] is True
    assert members["user00002@test.example.com"] is True  # no mail: UPN
    assert members["user00003.primary@example.com"] is True  # only proxyAddresses: primary SMTP
    assert members["user00217@test.example.com"] is True  # mail "N/A": falls through to the UPN
    assert members["user00249@example.com"] is True  # third level
    assert len(result.members) == 156
    assert unidentified_accounts(result) == {"user00007", "user00107", "user00157", "user00207"}
    assert unidentified_accounts(result) == dataset.expected_unidentified("GroupA")


def test_nested_path_says_which_groups_led_to_each_person(
    read: Callable[[str], GroupRead], dataset: ModuleType
) -> None:
    for (group, index), via in dataset.EXPECTED_VIA.items():
        people = {p.key: p for p in read(group).members}
        assert people[dataset.expected_key(index)].via == via, (group, index)
    people = {p.key: p for p in read("GroupA").members}
    assert people["user00210@example.com"].via == ("GroupB", "GroupC")


def test_membership_cycle_terminates_with_both_sides(
    read: Callable[[str], GroupRead], dataset: ModuleType
) -> None:
    for group in ("CycleX", "CycleY"):
        result = read(group)
        assert result.health is Health.OK
        assert by_key(result) == dataset.expected_members("CycleX")
    assert set(by_key(read("CycleX"))) == {
        "user00300@example.com", "user00301@example.com", "user00302@example.com",
        "user00303.primary@example.com", "user00304@example.com", "user00305@example.com",
        "user00306@example.com", "user00308@example.com", "user00309@example.com",
    }  # fmt: skip
    assert unidentified_accounts(read("CycleY")) == {"user00307"}


def test_group_of_2000_direct_members(read: Callable[[str], GroupRead], dataset: ModuleType) -> None:
    result = read("BigGroup")
    assert result.health is Health.OK
    assert by_key(result) == dataset.expected_members("BigGroup")
    assert len(result.members) + len(result.unidentified) + result.skipped == 2000
    assert len(result.unidentified) == len(dataset.expected_unidentified("BigGroup")) == 40


def test_ranged_member_reads_in_small_steps_give_the_same_group(
    make_source: Callable[..., LdapSource], read: Callable[[str], GroupRead]
) -> None:
    # Samba honours explicit ranges (directory-server.md), so a 300-value step walks 7 requests
    result = make_source(range_step=300).read_group("BigGroup")
    assert result.health is Health.OK
    assert result.members == read("BigGroup").members


def test_primary_group_member_is_found(read: Callable[[str], GroupRead], dataset: ModuleType) -> None:
    result = read("PrimaryGroup")
    assert result.health is Health.OK
    # user00310's primaryGroupID is PrimaryGroup: AD lists it under no `member` value at all
    assert by_key(result) == {"user00310@test.example.com": False, "user00311@example.com": True}
    assert by_key(result) == dataset.expected_members("PrimaryGroup")
    outer = read("PrimaryOuter")
    assert by_key(outer) == dataset.expected_members("PrimaryOuter")
    assert {p.key: p.via for p in outer.members} == {
        "user00310@test.example.com": ("PrimaryGroup",),
        "user00311@example.com": ("PrimaryGroup",),
        "user00312@example.com": (),
    }


def test_include_disabled_reports_disabled_accounts_as_enabled(
    make_source: Callable[..., LdapSource], dataset: ModuleType
) -> None:
    result = make_source(include_disabled=True).read_group("GroupC")
    assert result.health is Health.OK
    assert by_key(result) == dataset.expected_members("GroupC", include_disabled=True)
    assert all(by_key(result).values())
    assert "user00200@example.com" in by_key(result)


def test_identity_attributes_limit_what_counts_as_an_address(
    make_source: Callable[..., LdapSource], dataset: ModuleType
) -> None:
    result = make_source(identity_attributes=["mail"]).read_group(dataset.group_dn("GroupA"))
    assert result.health is Health.OK
    assert "user00002@test.example.com" not in by_key(result)
    assert {"user00002", "user00003", "user00009", "user00007", "user00217"} <= unidentified_accounts(result)
    assert unidentified_accounts(result) == {
        dataset.user_name(i)
        for i in dataset.expected_users("GroupA")
        if dataset.identity_kind(i) != "mail" and not dataset.disabled(i)
    }
    assert by_key(result) == {
        k: v
        for k, v in dataset.expected_members("GroupA").items()
        if k.endswith("@example.com") and "primary" not in k
    }


def test_non_people_are_skipped(read: Callable[[str], GroupRead]) -> None:
    result = read("Mixed")
    assert result.health is Health.OK
    assert by_key(result) == {"user00501@example.com": True, "user00500@example.com": False}
    assert result.skipped == 2  # a computer and a contact


def test_empty_group_is_ok_and_empty(read: Callable[[str], GroupRead]) -> None:
    result = read("EmptyGroup")
    assert (result.health, result.members, result.unidentified, result.detail) == (Health.OK, (), (), "")


def test_group_by_dn_equals_group_by_name(read: Callable[[str], GroupRead], dataset: ModuleType) -> None:
    by_dn = read(dataset.group_dn("GroupA"))
    assert by_dn.health is Health.OK
    assert by_dn.group == dataset.group_dn("GroupA")
    assert by_dn.members == read("GroupA").members


def test_missing_group_is_missing_with_the_reason(read: Callable[[str], GroupRead]) -> None:
    result = read("NoSuchGroup")
    assert (result.health, result.members) == (Health.MISSING, ())
    assert result.detail == "no group with sAMAccountName or cn 'NoSuchGroup' under DC=test,DC=example,DC=com"
    dn = "CN=Gone,OU=Groups,OU=SyncTest,DC=test,DC=example,DC=com"
    result = read(dn)
    assert result.health is Health.MISSING
    assert result.detail == f"no entry with DN '{dn}' on ldaps://127.0.0.1:636 (renamed, moved or mistyped?)"


def test_a_mistyped_group_lists_the_closest_names(read: Callable[[str], GroupRead]) -> None:
    result = read("GroupX")  # issue 15: the closest names the directory has
    assert result.health is Health.MISSING
    text, _, hint = result.detail.partition("; did you mean ")
    assert text == "no group with sAMAccountName or cn 'GroupX' under DC=test,DC=example,DC=com"
    assert sorted(hint.rstrip("?").split(", ")) == ["'GroupA'", "'GroupB'", "'GroupC'"]  # equally close


def test_ambiguous_name_is_missing_and_lists_the_candidates(read: Callable[[str], GroupRead]) -> None:
    result = read("Ambiguous")
    assert (result.health, result.members) == (Health.MISSING, ())
    assert result.detail == (
        "'Ambiguous' names 2 groups (CN=Ambiguous,OU=Groups,OU=SyncTest,DC=test,DC=example,DC=com; "
        "CN=Ambiguous,OU=MoreGroups,OU=SyncTest,DC=test,DC=example,DC=com); "
        "name the group by its distinguished name instead"
    ) or result.detail == (
        "'Ambiguous' names 2 groups (CN=Ambiguous,OU=MoreGroups,OU=SyncTest,DC=test,DC=example,DC=com; "
        "CN=Ambiguous,OU=Groups,OU=SyncTest,DC=test,DC=example,DC=com); "
        "name the group by its distinguished name instead"
    )


def test_a_user_dn_is_not_a_group(read: Callable[[str], GroupRead], dataset: ModuleType) -> None:
    result = read(dataset.user_dn(1))
    assert result.health is Health.MISSING
    assert (
        result.detail
        == f"{dataset.user_dn(1)} is a user (objectClass top, person, organizationalPerson, user)"
    )


@pytest.mark.parametrize("name", ["*", "*)(cn=*", "GroupA)(|(cn=*", "Group*", "\\2a", "GroupA\x00"])
def test_filter_metacharacters_in_names_match_nothing(read: Callable[[str], GroupRead], name: str) -> None:
    # unescaped, "*" would match every group (→ "ambiguous") and "Group*" GroupA/B/C
    result = read(name)
    assert result.health is Health.MISSING
    # a look-alike may be suggested ("; did you mean 'GroupA', …?", issue 15), never matched
    assert result.detail.partition("; did you mean")[0] == (
        f"group name {name!r} contains control characters"
        if "\x00" in name
        else f"no group with sAMAccountName or cn {name!r} under DC=test,DC=example,DC=com"
    )


def test_names_with_metacharacters_resolve_exactly(
    read: Callable[[str], GroupRead], dataset: ModuleType
) -> None:
    expected = {
        "user00400@example.com": False,
        "user00401@test.example.com": True,
        "user00402@example.com": True,
        "user00403.primary@example.com": True,
        "user00404@example.com": True,
    }
    for name in (dataset.META_SAM, dataset.META_DN):
        result = read(name)
        assert result.health is Health.OK, result.detail
        assert by_key(result) == expected
