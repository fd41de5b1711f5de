"""The azure_devops source in Azure DevOps Server mode: the Identities API of a collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from syncd.errors import ConfigError
from syncd.models import Health

if TYPE_CHECKING:
    from conftest import Cloud


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
