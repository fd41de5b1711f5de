"""Issue 16: the cloud sources report every identifier a person has, and their immutable id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncd.models import Health

if TYPE_CHECKING:
    from .conftest import Cloud


def test_entra_people_carry_upn_other_mails_smtp_proxies_and_object_id(cloud: Cloud) -> None:
    entra = cloud.entra_dir
    group = entra.add_group("Engineering")
    ann = entra.add_user("ann@contoso.com", upn="ann.lee@contoso.onmicrosoft.com")
    entra.objects[ann]["otherMails"] = ["Ann.Private@example.net"]
    entra.objects[ann]["proxyAddresses"] = [
        "SMTP:ann@contoso.com",
        "smtp:al@contoso.com",
        "X500:/o=Contoso/cn=ann",
    ]
    entra.add_member(group, ann)
    read = cloud.open("entra", cloud.entra_table()).read_group(group)
    assert read.health is Health.OK
    (person,) = read.members
    assert (person.key, person.upn, person.source_id) == (
        "ann@contoso.com",
        "ann.lee@contoso.onmicrosoft.com",
        ann,
    )
    assert person.aliases == (
        "ann.lee@contoso.onmicrosoft.com",
        "ann.private@example.net",
        "al@contoso.com",
        ann,
    )


def test_azure_devops_people_carry_principal_name_origin_id_and_descriptor(cloud: Cloud) -> None:
    ado = cloud.ado_dir
    root = ado.add_group("Root")
    bob = ado.add_user("Bob@Contoso.com", principal_name="bob@contoso.onmicrosoft.com")
    ado.add_member(root, bob)
    read = cloud.open("azure_devops", cloud.ado_table()).read_group("[contoso]\\Root")
    (person,) = read.members
    origin = ado.subjects[bob].origin_id
    assert (person.key, person.upn, person.source_id) == (
        "bob@contoso.com",
        "bob@contoso.onmicrosoft.com",
        bob,
    )
    assert person.aliases == ("bob@contoso.onmicrosoft.com", origin.casefold(), bob.casefold())
