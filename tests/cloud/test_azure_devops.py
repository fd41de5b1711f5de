"""The azure_devops source against the Azure DevOps (Services) emulator over HTTPS."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import certifi
import pytest

from syncd.emulators.faults import Fault, Faults
from syncd.emulators.http_server import Response
from syncd.errors import SourceAuthFailed, SourceUnreachable
from syncd.models import Health

if TYPE_CHECKING:
    from .conftest import Cloud


def _nested(cloud: Cloud) -> dict[str, str]:
    """[contoso]\\Root ⊃ ann, Sub; Sub ⊃ bob, Root (a cycle), a build service, Entra group Engineers.
    Engineers (Entra) ⊃ dana, eli, fay (disabled), group Contractors ⊃ gus, and a device.
    Azure DevOps has materialized only dana of Engineers."""
    entra, ado = cloud.entra_dir, cloud.ado_dir
    engineers = entra.add_group("Engineers")
    contractors = entra.add_group("Contractors")
    dana = entra.add_user("dana@contoso.com")
    for member in (dana, entra.add_user("eli@contoso.com"), entra.add_user("fay@contoso.com", enabled=False)):
        entra.add_member(engineers, member)
    entra.add_member(engineers, contractors)
    entra.add_member(contractors, entra.add_user(None, upn="gus@contoso.com"))
    entra.add_member(engineers, entra.add_other("#microsoft.graph.device", "build-agent-7"))

    root, sub = ado.add_group("Root"), ado.add_group("Sub")
    ado.add_member(root, ado.add_user("ann@contoso.com"))
    ado.add_member(root, sub)
    ado.add_member(sub, ado.add_user("Bob@Contoso.com", principal_name="bob@contoso.onmicrosoft.com"))
    ado.add_member(sub, root)
    ado.add_member(sub, ado.add_service("Contoso Build Service"))
    materialized = ado.add_user("dana@contoso.com", object_id=dana)
    ado.add_member(sub, ado.add_entra_group("Engineers", engineers, materialized=[materialized]))
    return {"root": root, "sub": sub, "engineers": engineers}


def _summary(read: object) -> list[tuple[str, bool, tuple[str, ...]]]:
    return [(p.key, p.enabled, p.via) for p in read.members]  # type: ignore[attr-defined]


def test_nested_groups_with_a_cycle_and_an_entra_group_expanded_through_graph(cloud: Cloud) -> None:
    _nested(cloud)
    aad = cloud.open("entra", cloud.entra_table(), name="aad")
    ado = cloud.open(
        "azure_devops", cloud.ado_table(expand_entra_with="aad"), name="ado", others={"aad": aad}
    )

    read = ado.read_group("[contoso]\\Root")

    assert read.health is Health.OK, read.detail
    sub, eng = "[contoso]\\Sub", "[TEAM FOUNDATION]\\Engineers"
    assert _summary(read) == [
        ("ann@contoso.com", True, ()),
        ("bob@contoso.com", True, (sub,)),
        ("dana@contoso.com", True, (sub, eng)),
        ("eli@contoso.com", True, (sub, eng)),
        ("fay@contoso.com", False, (sub, eng)),
        ("gus@contoso.com", True, (sub, eng)),
    ]
    assert read.members[1].email == "Bob@Contoso.com"  # mailAddress wins over principalName, as written
    assert read.skipped == 2  # the build service (ADO) and the device (Entra)
    assert read.unidentified == ()
    # the cycle back to Root was not walked twice: one membership call per ADO group
    assert cloud.ado.count("GET", "/graph/Memberships/") == 2
    assert cloud.graph.count("GET", "/transitiveMembers") == 1


def test_entra_group_without_an_entra_source_is_partial_with_materialized_members(cloud: Cloud) -> None:
    _nested(cloud)
    ado = cloud.open("azure_devops", cloud.ado_table())

    read = ado.read_group("[contoso]\\Root")

    assert read.health is Health.PARTIAL
    assert "Engineers" in read.detail and "expand_entra_with" in read.detail
    assert [p.key for p in read.members] == ["ann@contoso.com", "bob@contoso.com", "dana@contoso.com"]
    assert cloud.graph.count() == 0


def test_failed_entra_expansion_makes_the_read_partial(cloud: Cloud) -> None:
    _nested(cloud)
    aad = cloud.open("entra", cloud.entra_table(), name="aad", attempts=1)
    ado = cloud.open(
        "azure_devops", cloud.ado_table(expand_entra_with="aad"), name="ado", others={"aad": aad}
    )
    cloud.graph.set_faults(Faults(fail_after=0, path_contains="transitiveMembers"))

    read = ado.read_group("[contoso]\\Root")

    assert read.health is Health.PARTIAL
    assert "could not be expanded through source 'aad'" in read.detail
    assert [p.key for p in read.members] == ["ann@contoso.com", "bob@contoso.com"]


def test_five_thousand_members_across_continuation_pages_with_batched_lookups(cloud: Cloud) -> None:
    ado_dir = cloud.ado_dir
    big = ado_dir.add_group("Everyone Licensed")
    for number in range(5000):
        ado_dir.add_member(big, ado_dir.add_user(f"user{number:04d}@contoso.com"))
    for number in range(9):  # 10 groups in all, listed 3 per page → 4 pages
        ado_dir.add_group(f"Filler {number}")
    cloud.ado.page_size = 3
    cloud.ado.membership_page_size = 1000
    ado = cloud.open("azure_devops", cloud.ado_table())

    read = ado.read_group("[contoso]\\Everyone Licensed")

    assert read.health is Health.OK
    assert len(read.members) == 5000
    assert read.members[0].key == "user0000@contoso.com" and read.members[-1].key == "user4999@contoso.com"
    assert cloud.ado.count("GET", "/graph/groups") == 4
    assert cloud.ado.count("GET", "/graph/Memberships/") == 5
    assert cloud.ado.count("POST", "/graph/subjectlookup") == 50


def test_subject_lookup_batch_size_is_configurable_and_subjects_are_cached(cloud: Cloud) -> None:
    ado_dir = cloud.ado_dir
    one, two = ado_dir.add_group("One"), ado_dir.add_group("Two")
    users = [ado_dir.add_user(f"u{n}@contoso.com") for n in range(95)]
    for user in users:
        ado_dir.add_member(one, user)
    for user in users[:10]:
        ado_dir.add_member(two, user)
    cloud.ado.max_lookup_keys = 40
    ado = cloud.open("azure_devops", cloud.ado_table(lookup_batch_size=40))

    assert len(ado.read_group("[contoso]\\One").members) == 95
    assert cloud.ado.count("POST", "/graph/subjectlookup") == 3  # 40 + 40 + 15
    assert [entry.status for entry in cloud.ado.log if "subjectlookup" in entry.path] == [200, 200, 200]
    assert len(ado.read_group("[contoso]\\Two").members) == 10
    assert cloud.ado.count("POST", "/graph/subjectlookup") == 3  # every member of Two was already known


def test_a_refused_subject_lookup_batch_is_split_and_retried(cloud: Cloud, capsys) -> None:
    """Issue 15: a 400 from subjectlookup (the per-call limit is [U]) splits the batch and retries the halves;
    the rest of the read uses the size that worked, and a warning names lookup_batch_size."""
    ado_dir = cloud.ado_dir
    group = ado_dir.add_group("Many")
    for n in range(95):
        ado_dir.add_member(group, ado_dir.add_user(f"u{n}@contoso.com"))
    cloud.ado.max_lookup_keys = 30
    ado = cloud.open("azure_devops", cloud.ado_table(lookup_batch_size=100))

    read = ado.read_group("[contoso]\\Many")

    assert read.health is Health.OK, read.detail
    assert len(read.members) == 95
    statuses = [entry.status for entry in cloud.ado.log if "subjectlookup" in entry.path]
    # 95 refused → 47 refused → the 95 at the size that worked: 23 + 23 + 23 + 23 + 3
    assert statuses == [400, 400, 200, 200, 200, 200, 200]
    captured = capsys.readouterr()  # the diagnostics stream depends on the logging set-up of the session
    assert "set lookup_batch_size = 23" in captured.out + captured.err


def test_service_identities_are_skipped_and_users_without_address_are_unidentified(cloud: Cloud) -> None:
    ado_dir = cloud.ado_dir
    group = ado_dir.add_group("Mixed")
    ado_dir.add_member(group, ado_dir.add_user("real@contoso.com"))
    ado_dir.add_member(group, ado_dir.add_service("Build Service"))
    ado_dir.add_member(group, ado_dir.add_service("Deploy SP", prefix="aadsp"))
    ado_dir.add_member(
        group, ado_dir.add_user("", principal_name="CONTOSO\\legacy", origin="ad", prefix="win")
    )
    ado_dir.add_member(group, ado_dir.add_user("gone@contoso.com", deleted=True))
    ado = cloud.open("azure_devops", cloud.ado_table())

    read = ado.read_group("Mixed")  # a bare display name, unique in the organization

    assert read.health is Health.OK
    assert [(p.key, p.enabled) for p in read.members] == [
        ("gone@contoso.com", False),
        ("real@contoso.com", True),
    ]
    assert read.skipped == 2
    assert [u.detail for u in read.unidentified] == ["no e-mail address in mailAddress or principalName"]


def test_group_names_missing_ambiguous_and_by_descriptor(cloud: Cloud) -> None:
    ado_dir = cloud.ado_dir
    ado_dir.add_group("Developers", scope="Alpha")
    ado_dir.add_group("Developers", scope="Beta")
    admins = ado_dir.add_group("Timetracker Admins")
    ado_dir.add_member(admins, ado_dir.add_user("boss@contoso.com"))
    ado = cloud.open("azure_devops", cloud.ado_table())

    typo = ado.read_group("[contoso]\\Timetracker Admin")
    assert typo.health is Health.MISSING
    assert "did you mean '[contoso]\\\\Timetracker Admins'?" in typo.detail
    ambiguous = ado.read_group("Developers")
    assert ambiguous.health is Health.MISSING
    assert "2 groups are named 'Developers' ([Alpha]\\Developers, [Beta]\\Developers)" in ambiguous.detail
    by_descriptor = ado.read_group(admins)
    assert by_descriptor.health is Health.OK and [p.key for p in by_descriptor.members] == [
        "boss@contoso.com"
    ]
    unknown = ado.read_group("vssgp.Tm9TdWNoR3JvdXA")
    assert unknown.health is Health.MISSING and "no group with descriptor" in unknown.detail
    case_insensitive = ado.read_group("[CONTOSO]\\timetracker admins")
    assert case_insensitive.health is Health.OK


def test_throttling_with_retry_after_is_retried_after_the_wait(cloud: Cloud) -> None:
    group = cloud.ado_dir.add_group("G")
    cloud.ado_dir.add_member(group, cloud.ado_dir.add_user("a@contoso.com"))
    cloud.ado.script(
        "POST", "subjectlookup", Response.json(429, {"message": "TF400733: blocked"}, {"Retry-After": "1"})
    )
    ado = cloud.open("azure_devops", cloud.ado_table())

    read = ado.read_group("[contoso]\\G")

    assert read.health is Health.OK and [p.key for p in read.members] == ["a@contoso.com"]
    assert [e.status for e in cloud.ado.log if "subjectlookup" in e.path] == [429, 200]
    assert ado.http.stats.throttled == 1


def test_throttling_without_retry_after_backs_off_and_retries(cloud: Cloud) -> None:
    group = cloud.ado_dir.add_group("G")
    cloud.ado_dir.add_member(group, cloud.ado_dir.add_user("a@contoso.com"))
    cloud.ado.script("GET", "/graph/Memberships/", Response.json(429, {"message": "TF400733: blocked"}))
    ado = cloud.open("azure_devops", cloud.ado_table())

    read = ado.read_group("[contoso]\\G")

    assert read.health is Health.OK
    assert [e.status for e in cloud.ado.log if "Memberships" in e.path] == [429, 200]
    assert ado.http.stats.retries == 1


def test_retry_after_on_a_200_delays_the_next_request(cloud: Cloud) -> None:
    group = cloud.ado_dir.add_group("G")
    cloud.ado_dir.add_member(group, cloud.ado_dir.add_user("a@contoso.com"))
    listing = {"count": 1, "value": [cloud.ado_dir.subjects[group].graph(f"{cloud.ado.base_url}/contoso")]}
    # the group listing succeeds but says "delay your next request by 1 s" (apis.md 2.7)
    cloud.ado.script("GET", "/graph/groups", Response.json(200, listing, {"Retry-After": "1"}))
    ado = cloud.open("azure_devops", cloud.ado_table())
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    ado.http.limiter.sleep = sleep

    read = ado.read_group("[contoso]\\G")

    assert read.health is Health.OK
    assert len(waits) == 1 and 0.5 < waits[0] <= 1.0
    assert [e.status for e in cloud.ado.log] == [200, 200, 200]  # nothing was retried: it waited instead


def test_a_read_that_cannot_finish_is_an_error_for_that_group(cloud: Cloud) -> None:
    group = cloud.ado_dir.add_group("G")
    cloud.ado_dir.add_member(group, cloud.ado_dir.add_user("a@contoso.com"))
    cloud.ado.set_faults(Faults(fail_after=0, path_contains="subjectlookup", error_status=503))
    ado = cloud.open("azure_devops", cloud.ado_table(), attempts=2)

    read = ado.read_group("[contoso]\\G")

    assert read.health is Health.ERROR
    assert read.members == ()
    assert "read did not finish" in read.detail and "HTTP 503" in read.detail


def test_malformed_json_is_retried(cloud: Cloud) -> None:
    group = cloud.ado_dir.add_group("G")
    cloud.ado_dir.add_member(group, cloud.ado_dir.add_user("a@contoso.com"))
    cloud.ado.set_faults(Faults(script={1: Fault.MALFORMED}, path_contains="Memberships"))
    ado = cloud.open("azure_devops", cloud.ado_table())

    read = ado.read_group("[contoso]\\G")

    assert read.health is Health.OK and len(read.members) == 1
    assert cloud.ado.count("GET", "Memberships") == 2


def test_unreachable_service_raises_before_anything_was_read(cloud: Cloud) -> None:
    cloud.servers[2].stop()
    ado = cloud.open("azure_devops", cloud.ado_table(), attempts=1)

    with pytest.raises(SourceUnreachable, match="listing groups"):
        ado.read_group("[contoso]\\G")


@pytest.mark.parametrize("suppress_honoured", [False, True], ids=["203-sign-in-page", "401"])
def test_expired_pat_is_an_auth_failure(cloud: Cloud, suppress_honoured: bool) -> None:
    cloud.ado.honour_suppress = suppress_honoured
    ado = cloud.open("azure_devops", cloud.ado_table(pat=cloud.secret_file("old.txt", cloud.expired_pat)))

    with pytest.raises(SourceAuthFailed) as raised:
        ado.read_group("[contoso]\\G")

    message = str(raised.value)
    expected = "HTML page instead of JSON (HTTP 203)" if not suppress_honoured else "HTTP 401"
    assert expected in message
    assert "pat" in message and "expired" in message
    assert cloud.expired_pat not in message
    assert [e.status for e in cloud.ado.log] == [203 if not suppress_honoured else 401]


def test_tls_without_the_ca_bundle_names_the_fix(cloud: Cloud) -> None:
    ado = cloud.open("azure_devops", cloud.ado_table(ca_bundle=None), attempts=1)

    with pytest.raises(SourceUnreachable, match="set ca_bundle"):
        ado.read_group("[contoso]\\G")


def test_configured_ca_bundle_wins_over_requests_ca_bundle(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    group = cloud.ado_dir.add_group("G")
    cloud.ado_dir.add_member(group, cloud.ado_dir.add_user("a@contoso.com"))
    ado = cloud.open("azure_devops", cloud.ado_table())

    assert ado.read_group("[contoso]\\G").health is Health.OK


def test_check_connection_reports_the_sign_in(cloud: Cloud) -> None:
    cloud.ado_dir.add_group("G")
    ado = cloud.open("azure_devops", cloud.ado_table())

    assert ado.check_connection().endswith("signed in with a PAT; 1 groups on the first page")
