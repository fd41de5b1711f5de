"""The azure_devops source in Azure DevOps Server mode: the Identities API of a collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from syncd.errors import ConfigError
from syncd.models import GroupRead, Health, Person

if TYPE_CHECKING:
    from .conftest import Cloud


def _server_table(cloud: Cloud, **overrides: Any) -> dict[str, Any]:
    table = cloud.ado_table(organization=None, vssps_url=None, server_url=cloud.ado.collection_url)
    table.update(overrides)
    return table


def _nested(cloud: Cloud) -> None:
    ado = cloud.ado_dir
    root, sub = ado.add_group("Root"), ado.add_group("Sub")
    ado.add_member(
        root, ado.add_user("ann@corp.example", principal_name="CORP\\ann", origin="ad", prefix="win")
    )
    ado.add_member(root, sub)
    ado.add_member(
        sub, ado.add_user("bob@corp.example", principal_name="CORP\\bob", origin="ad", prefix="win")
    )
    ado.add_member(sub, root)  # a cycle
    ado.add_member(sub, ado.add_service("Project Collection Build Service"))
    ado.add_member(sub, ado.add_user("", principal_name="CORP\\legacy", origin="ad", prefix="win"))
    ado.add_member(
        sub, ado.add_user("old@corp.example", principal_name="CORP\\old", origin="ad", active=False)
    )


def test_direct_membership_walk_with_a_cycle(cloud: Cloud) -> None:
    _nested(cloud)
    ado = cloud.open("azure_devops", _server_table(cloud))

    read = ado.read_group("[contoso]\\Root")

    assert read.health is Health.OK, read.detail
    assert [(p.key, p.enabled, p.via) for p in read.members] == [
        ("ann@corp.example", True, ()),
        ("bob@corp.example", True, ("[contoso]\\Sub",)),
        ("old@corp.example", False, ("[contoso]\\Sub",)),
    ]
    assert read.skipped == 1
    assert [u.display_name for u in read.unidentified] == ["CORP\\legacy"]
    # find Root, resolve its members (ann, Sub), resolve Sub's members: Root is already known
    queries = [e.query for e in cloud.ado.log]
    assert len(queries) == 3
    assert [q["queryMembership"] for q in queries] == [["Direct"], ["Direct"], ["Direct"]]
    assert all(e.path == "/tfs/DefaultCollection/_apis/identities" for e in cloud.ado.log)


def test_expanded_down_membership(cloud: Cloud) -> None:
    _nested(cloud)
    ado = cloud.open("azure_devops", _server_table(cloud, identities_membership="expandedDown"))

    read = ado.read_group("[contoso]\\Root")

    assert read.health is Health.OK
    assert [(p.key, p.via) for p in read.members] == [
        ("ann@corp.example", ()),
        ("bob@corp.example", ()),
        ("old@corp.example", ()),
    ]
    assert [e.query["queryMembership"] for e in cloud.ado.log] == [["Direct"], ["ExpandedDown"], ["None"]]


def test_lookup_batches_stay_under_the_query_length_limit(cloud: Cloud) -> None:
    ado = cloud.ado_dir
    group = ado.add_group("Many")
    for number in range(60):
        ado.add_member(group, ado.add_user(f"user{number}@corp.example", origin="ad", prefix="win"))
    source = cloud.open("azure_devops", _server_table(cloud))

    read = source.read_group("Many")

    assert len(read.members) == 60
    lookups = [e.query["descriptors"][0] for e in cloud.ado.log if "descriptors" in e.query]
    assert all(len(d) <= 1500 for d in lookups)
    assert sum(len(d.split(",")) for d in lookups) == 60
    assert len(lookups) == 3  # ~68 characters per descriptor → 22 per batch


def test_group_names_on_server(cloud: Cloud) -> None:
    ado = cloud.ado_dir
    ado.add_group("Developers", scope="Alpha")
    ado.add_group("Developers", scope="Beta")
    team = ado.add_group("Team", scope="Alpha")
    ado.add_member(team, ado.add_user("t@corp.example", origin="ad", prefix="win"))
    source = cloud.open("azure_devops", _server_table(cloud))

    ambiguous = source.read_group("Developers")
    assert ambiguous.health is Health.MISSING and "write '[Project]\\Group'" in ambiguous.detail
    assert source.read_group("[Beta]\\Developers").health is Health.OK
    by_descriptor = source.read_group(ado.subjects[team].identity_descriptor)
    assert [p.key for p in by_descriptor.members] == ["t@corp.example"]
    assert source.read_group("[Alpha]\\Nobody").health is Health.MISSING


@pytest.mark.parametrize("wrong", ["server", "vssps"])
def test_server_only_and_services_only_keys_are_refused(cloud: Cloud, wrong: str) -> None:
    if wrong == "server":
        table = cloud.ado_table(identities_membership="direct")
        expected = "identities_membership: only for Azure DevOps Server"
    else:
        table = _server_table(cloud, vssps_url="https://vssps.example")
        expected = "vssps_url: only for Azure DevOps Services"
    with pytest.raises(ConfigError, match=expected):
        cloud.parse("azure_devops", table)


# -- identities as the server serialises them; Windows groups (issue 22) -----------------------------------

WINDOWS_SID = "S-1-5-21-1004336348-1177238915-682003330-1104"


class StubLdap:
    """A stand-in `ldap` source: answers one SID with `read`, counts its reads."""

    name = "corp"

    def __init__(self, read: GroupRead) -> None:
        self._read = read
        self.asked: list[str] = []

    def read_group(self, group: str) -> GroupRead:
        self.asked.append(group)
        return self._read if group == WINDOWS_SID else GroupRead("corp", group, Health.MISSING)

    def close(self) -> None:
        pass


def _with_windows_group(cloud: Cloud, listed: list[str]) -> None:
    ado = cloud.ado_dir
    root = ado.add_group("Root")
    ado.add_member(root, ado.add_user("ann@corp.example", principal_name="CORP\\ann", origin="ad"))
    ado.add_member(root, ado.add_windows_group("Engineers", WINDOWS_SID, listed=listed))


def test_a_false_is_active_is_left_out_and_read_as_inactive(cloud: Cloud) -> None:
    ado = cloud.ado_dir
    root = ado.add_group("Root")
    ado.add_member(
        root, ado.add_user("old@corp.example", principal_name="CORP\\old", origin="ad", active=False)
    )
    source = cloud.open("azure_devops", _server_table(cloud))

    read = source.read_group("[contoso]\\Root")

    [old] = read.members
    assert (old.enabled, old.inactive) == (False, "not active on Azure DevOps Server (isActive is not true)")
    answers = [e for e in cloud.ado.log if "descriptors" in e.query]
    assert answers, "the member was resolved"


def test_a_group_is_known_by_its_descriptor_type_when_is_container_is_left_out(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    _nested(cloud)
    serialise = cloud.ado_dir.identity

    def without_container(subject: Any, membership: str) -> dict[str, Any]:
        body = serialise(subject, membership)
        body.pop("isContainer", None)
        return body

    monkeypatch.setattr(cloud.ado_dir, "identity", without_container)
    source = cloud.open("azure_devops", _server_table(cloud))

    read = source.read_group("[contoso]\\Root")

    assert read.health is Health.OK
    assert [(p.key, p.via) for p in read.members][:2] == [
        ("ann@corp.example", ()),
        ("bob@corp.example", ("[contoso]\\Sub",)),
    ]


def test_a_windows_group_without_an_ldap_source_is_partial(cloud: Cloud) -> None:
    ado = cloud.ado_dir
    listed = ado.add_user("dan@corp.example", principal_name="CORP\\dan", origin="ad")
    _with_windows_group(cloud, [listed])
    source = cloud.open("azure_devops", _server_table(cloud))

    read = source.read_group("[contoso]\\Root")

    assert read.health is Health.PARTIAL
    assert "Windows group CORP\\Engineers" in read.detail and "expand_windows_with" in read.detail
    # the members the server's copy lists are still members (they may gain seats; nobody loses one)
    assert [p.key for p in read.members] == ["ann@corp.example", "dan@corp.example"]


def test_a_windows_group_is_expanded_through_the_named_ldap_source(cloud: Cloud) -> None:
    _with_windows_group(cloud, [])  # the server's copy lists nobody
    eve = Person("eve@corp.example", "eve@corp.example", via=("Platform",))  # type: ignore[arg-type]
    ldap = StubLdap(GroupRead("corp", WINDOWS_SID, Health.OK, members=(eve,)))
    source = cloud.open(
        "azure_devops", _server_table(cloud, expand_windows_with="corp"), others={"corp": ldap}
    )

    read = source.read_group("[contoso]\\Root")
    again = source.read_group("[contoso]\\Root")

    assert (read.health, read.detail) == (Health.OK, "")
    assert [(p.key, p.via) for p in read.members] == [
        ("ann@corp.example", ()),
        ("eve@corp.example", ("CORP\\Engineers", "Platform")),
    ]
    assert again == read and ldap.asked == [WINDOWS_SID]  # read once per run


def test_a_windows_group_whose_ldap_read_is_not_ok_makes_the_read_partial(cloud: Cloud) -> None:
    _with_windows_group(cloud, [])
    ldap = StubLdap(GroupRead("corp", WINDOWS_SID, Health.PARTIAL, detail="1 member(s) … were not read"))
    source = cloud.open(
        "azure_devops", _server_table(cloud, expand_windows_with="corp"), others={"corp": ldap}
    )

    read = source.read_group("[contoso]\\Root")

    assert read.health is Health.PARTIAL
    assert read.detail.startswith(
        f"Windows group CORP\\Engineers ({WINDOWS_SID}) could not be expanded through source 'corp': partial"
    )


def test_expand_windows_with_is_for_azure_devops_server_only(cloud: Cloud) -> None:
    with pytest.raises(ConfigError, match="expand_windows_with: only for Azure DevOps Server"):
        cloud.parse("azure_devops", cloud.ado_table(expand_windows_with="corp"))


def test_a_windows_group_as_the_rule_group_and_in_expanded_down_mode(cloud: Cloud) -> None:
    _with_windows_group(cloud, [])
    eve = Person("eve@corp.example", "eve@corp.example")  # type: ignore[arg-type]
    ldap = StubLdap(GroupRead("corp", WINDOWS_SID, Health.OK, members=(eve,)))
    direct = cloud.open(
        "azure_devops", _server_table(cloud, expand_windows_with="corp"), others={"corp": ldap}
    )
    read = direct.read_group(f"System.Security.Principal.WindowsIdentity;{WINDOWS_SID}")
    assert (read.health, [p.key for p in read.members]) == (Health.OK, ["eve@corp.example"])

    flat = cloud.open("azure_devops", _server_table(cloud, identities_membership="expandedDown"))
    partial = flat.read_group("[contoso]\\Root")
    assert partial.health is Health.PARTIAL and "expand_windows_with" in partial.detail
