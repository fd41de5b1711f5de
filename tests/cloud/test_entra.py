"""The entra source against the Microsoft Graph and authority emulators over HTTPS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncd.emulators.graph import SERVICE_PRINCIPAL
from syncd.emulators.http_server import Response
from syncd.models import Health

if TYPE_CHECKING:
    from .conftest import Cloud


def test_next_link_paging_reads_every_page_with_the_selected_fields(cloud: Cloud) -> None:
    entra = cloud.entra_dir
    group = entra.add_group("All Staff")
    for number in range(250):
        entra.add_member(group, entra.add_user(f"staff{number:03d}@contoso.com", enabled=number % 50 != 7))
    aad = cloud.open("entra", cloud.entra_table(page_size=100))

    read = aad.read_group(group)

    assert read.health is Health.OK
    assert len(read.members) == 250
    assert [p.key for p in read.members if not p.enabled] == [
        f"staff{n:03d}@contoso.com" for n in (7, 57, 107, 157, 207)
    ]
    pages = [e for e in cloud.graph.log if e.path.endswith("/transitiveMembers")]
    assert len(pages) == 3
    assert [e.query.get("$skiptoken") is not None for e in pages] == [False, True, True]
    assert all(
        e.query["$select"]
        == ["id,mail,userPrincipalName,accountEnabled,displayName,otherMails,proxyAddresses"]
        for e in pages
    )
    assert cloud.authority.tokens_issued() == 1  # msal's cache answered the other two


def test_users_are_filtered_by_odata_type_and_fall_back_to_the_upn(cloud: Cloud) -> None:
    entra = cloud.entra_dir
    group, nested = entra.add_group("Engineering"), entra.add_group("Platform")
    entra.add_member(group, entra.add_user("ann@contoso.com", upn="ann.lee@contoso.onmicrosoft.com"))
    entra.add_member(group, entra.add_user(None, upn="bob@contoso.com", enabled=False))
    entra.add_member(group, nested)
    entra.add_member(nested, entra.add_user("cy@contoso.com"))
    entra.add_member(nested, entra.add_other(SERVICE_PRINCIPAL, "deploy-bot"))
    entra.add_member(group, entra.add_other("#microsoft.graph.device", "laptop-1"))
    entra.add_member(group, entra.add_user(None, upn="no-address"))
    aad = cloud.open("entra", cloud.entra_table())

    read = aad.read_group(group)

    assert read.health is Health.OK
    assert [(p.key, p.email, p.enabled) for p in read.members] == [
        ("ann@contoso.com", "ann@contoso.com", True),
        ("bob@contoso.com", "bob@contoso.com", False),
        ("cy@contoso.com", "cy@contoso.com", True),
    ]
    assert read.skipped == 2  # the service principal and the device; the nested group is a container
    assert [u.detail for u in read.unidentified] == ["no e-mail address in mail or userPrincipalName"]


def test_group_by_display_name_unique_missing_and_ambiguous(cloud: Cloud) -> None:
    entra = cloud.entra_dir
    finance = entra.add_group("Finance")
    entra.add_member(finance, entra.add_user("fin@contoso.com"))
    entra.add_group("Sales")
    entra.add_group("Sales")
    entra.add_group("O'Brien's team")
    aad = cloud.open("entra", cloud.entra_table())

    assert [p.key for p in aad.read_group("Finance").members] == ["fin@contoso.com"]
    assert aad.read_group("O'Brien's team").health is Health.OK  # quote escaped in $filter
    ambiguous = aad.read_group("Sales")
    assert ambiguous.health is Health.MISSING and "2 groups are named 'Sales'" in ambiguous.detail
    absent = aad.read_group("Marketing")
    assert absent.health is Health.MISSING and "no group named 'Marketing'" in absent.detail
    unknown = aad.read_group("00000000-0000-0000-0000-000000000001")
    assert unknown.health is Health.MISSING and "no group with object id" in unknown.detail


def test_a_missing_group_lists_the_closest_display_names(cloud: Cloud) -> None:
    """Issue 15: a mistyped group name ("Finanse") names the groups the tenant has that it looks like."""
    entra = cloud.entra_dir
    entra.add_group("Finance")
    entra.add_group("Finance Leads")
    entra.add_group("Facilities")
    aad = cloud.open("entra", cloud.entra_table())

    absent = aad.read_group("Finanse")

    assert absent.health is Health.MISSING
    assert absent.detail.endswith("did you mean 'Finance', 'Finance Leads'?"), absent.detail
    assert cloud.graph.count("GET", "/groups") == 2  # the name, then one bounded look for similar ones


def test_graph_throttling_is_retried(cloud: Cloud) -> None:
    entra = cloud.entra_dir
    group = entra.add_group("G")
    entra.add_member(group, entra.add_user("a@contoso.com"))
    cloud.graph.script(
        "GET",
        "/transitiveMembers",
        Response.json(
            429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, {"Retry-After": "1"}
        ),
    )
    aad = cloud.open("entra", cloud.entra_table())

    read = aad.read_group(group)

    assert read.health is Health.OK and [p.key for p in read.members] == ["a@contoso.com"]
    assert [e.status for e in cloud.graph.log] == [429, 200]
    assert aad.http.stats.throttled == 1


def test_next_link_is_rebased_onto_the_configured_graph_url(cloud: Cloud) -> None:
    entra = cloud.entra_dir
    group = entra.add_group("G")
    for number in range(3):
        entra.add_member(group, entra.add_user(f"u{number}@contoso.com"))
    real_base = cloud.graph.base_url
    cloud.graph.base_url = "https://graph.example.invalid"  # nextLinks now name another host
    aad = cloud.open("entra", cloud.entra_table(graph_url=real_base, page_size=2))

    read = aad.read_group(group)

    assert read.health is Health.OK and len(read.members) == 3
    assert cloud.graph.count("GET", "/transitiveMembers") == 2


def test_a_repeated_next_link_is_an_error_not_a_loop(cloud: Cloud) -> None:
    group = cloud.entra_dir.add_group("G")
    link = f"{cloud.graph.base_url}/v1.0/groups/{group}/transitiveMembers?$skiptoken=same"
    page = {"@odata.nextLink": link, "value": []}
    cloud.graph.script("GET", "/transitiveMembers", Response.json(200, page), times=3)
    aad = cloud.open("entra", cloud.entra_table())

    read = aad.read_group(group)

    assert read.health is Health.ERROR
    assert "repeated a @odata.nextLink" in read.detail
    assert cloud.graph.count("GET", "/transitiveMembers") == 2


def test_check_connection_acquires_a_token_and_lists_a_group(cloud: Cloud) -> None:
    cloud.entra_dir.add_group("G")
    aad = cloud.open("entra", cloud.entra_table())

    assert aad.check_connection().endswith(f"signed in as application {cloud.client_id}")
    assert cloud.authority.tokens_issued(cloud.client_id) == 1
