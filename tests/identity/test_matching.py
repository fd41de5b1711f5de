"""Matching 7pace rows to people by every identifier they have, and keeping seats through renames (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.config import IdentitySettings
from syncd.identity import DomainAliases, EmailKey, normalise_identifier
from syncd.matching import Matching, match_people
from syncd.models import NONE_ROLE, Action, GroupRead, Health, LicensedUser, Owned, Person, Plan, Policy, Rule
from syncd.reconcile import PlanInputs, reconcile
from syncd.rules import desired_roles

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RULE = Rule(0, "corp", "users", "Team")
RULE_ID = RULE.identity
ORDER = ("Administrator", "Team")


def rank(role: str) -> int:
    return 0 if role == NONE_ROLE else len(ORDER) - ORDER.index(role)


def person(mail: str, *, upn: str = "", others: tuple[str, ...] = (), guid: str = "") -> Person:
    key = normalise_identifier(mail)
    assert key is not None
    aliases = tuple(k for k in map(normalise_identifier, (upn, *others)) if k is not None and k != key)
    return Person(key, mail, mail.partition("@")[0].title(), guid, True, (), upn=upn, aliases=aliases)


def row(email: str = "", *, unique: str = "", target_id: str = "", role: str = "Team") -> LicensedUser:
    key = normalise_identifier(email) or normalise_identifier(unique)
    assert key is not None
    return LicensedUser(key, email or unique, role, target_id, "", unique or email, "")


def run(
    people: list[Person],
    rows: list[LicensedUser],
    ledger: dict[EmailKey, Owned] | None = None,
    identity: IdentitySettings | None = None,
) -> tuple[Matching, Plan]:
    reads = {("corp", "users"): GroupRead("corp", "users", Health.OK, tuple(people))}
    desired = desired_roles((RULE,), reads, rank)
    matched = match_people(desired, {r.key: r for r in rows}, ledger or {}, identity or IdentitySettings())
    recon = reconcile(
        PlanInputs(
            desired=matched.desired,
            licensed=matched.licensed,
            owned=matched.owned,
            absent_since={},
            waiting_since={},
            unhealthy=(),
            policy=Policy(grace=timedelta(0), unmanaged="remove", max_removal_percent=100),
            rank=rank,
            now=NOW,
            renamed=matched.renamed,
            ambiguous=matched.ambiguous,
            ambiguous_seats=matched.ambiguous_seats,
            identifiers=matched.identifiers,
        )
    )
    return matched, recon.plan


def owned(target_id: str = "", person_id: str = "") -> Owned:
    return Owned("Team", RULE_ID, NOW - timedelta(days=30), target_id, "", person_id)


def test_mail_differs_from_upn_and_the_row_carries_only_the_unique_name() -> None:
    ann = person("ann.lee@contoso.com", upn="alee@contoso.onmicrosoft.com")
    matched, plan = run([ann], [row(unique="ALee@contoso.onmicrosoft.com", target_id="7")])
    assert plan.changes == ()  # today: "assign ann.lee@… + remove alee@…" every hour
    assert matched.licensed[ann.key].target_id == "7"
    assert matched.how[ann.key] == "alee@contoso.onmicrosoft.com = 7pace ALee@contoso.onmicrosoft.com (id 7)"


def test_domain_aliases_make_two_domains_one() -> None:
    ann = person("ann@contoso.com")
    rows = [row("ann@contoso.onmicrosoft.com", target_id="7")]
    _, without = run([ann], rows)
    assert [(c.action, c.email) for c in without.changes] == [
        (Action.UNASSIGN, "ann@contoso.onmicrosoft.com"),
        (Action.ASSIGN, "ann@contoso.com"),
    ]
    aliases = IdentitySettings(DomainAliases({"contoso.onmicrosoft.com": "contoso.com"}))
    _, plan = run([ann], rows, identity=aliases)
    assert plan.changes == ()


def test_an_on_prem_domain_user_name_matches_through_the_netbios_alias() -> None:
    # AD gives every account the implicit UPN sAMAccountName@<DNS domain>; 7pace on-prem shows DOMAIN\user
    ann = person("ann.lee@contoso.com", others=("alee@corp.contoso.com",))
    rows = [row(unique="CORP\\alee", target_id="9", role="Administrator")]
    aliases = IdentitySettings(DomainAliases({"CORP": "corp.contoso.com"}))
    matched, plan = run([ann], rows, identity=aliases)
    assert [(c.action, c.email, c.target_id, c.after) for c in plan.changes] == [
        (Action.CHANGE, "CORP\\alee", "9", "Team")  # written as the row knows it (by id: no address)
    ]
    assert "7pace.id:9" in plan.changes[0].identifiers
    assert "alias:alee@corp.contoso.com" in plan.changes[0].identifiers
    assert matched.ambiguous == ()


def test_a_row_matching_two_people_is_left_alone_and_counted() -> None:
    ann = person("ann@contoso.com", upn="shared@contoso.com")
    bob = person("bob@contoso.com", others=("shared@contoso.com",))
    rows = [row(unique="shared@contoso.com", target_id="5"), row("carl@contoso.com", target_id="6")]
    matched, plan = run([ann, bob], rows)
    assert [a.people for a in plan.ambiguous] == [("ann@contoso.com (Ann)", "bob@contoso.com (Bob)")]
    assert plan.ambiguous[0].rows == ("shared@contoso.com (id 5)",)
    assert plan.ambiguous[0].why == "one 7pace user matches several people"
    # neither ann nor bob is assigned; carl (unselected) loses his seat; the ambiguous seat stays counted
    assert [(c.action, c.email) for c in plan.changes] == [(Action.UNASSIGN, "carl@contoso.com")]
    assert (plan.seats_before, plan.seats_after) == (2, 1)
    assert matched.ambiguous_seats == 1


def test_a_person_matching_two_rows_is_left_alone() -> None:
    ann = person("ann@contoso.com", upn="alee@contoso.onmicrosoft.com")
    rows = [row("ann@contoso.com", target_id="1"), row(unique="alee@contoso.onmicrosoft.com", target_id="2")]
    _, plan = run([ann], rows)
    assert plan.changes == ()
    assert plan.ambiguous[0].why == "one person matches several 7pace users"
    assert plan.ambiguous[0].seats == 2 and plan.seats_before == plan.seats_after == 2


def test_a_rename_keeps_the_seat_and_its_ownership() -> None:
    before = {EmailKey("ann.smith@contoso.com"): owned("7", "guid-ann")}
    ann = person("ann.jones@contoso.com", guid="guid-ann")  # married: mail and UPN changed, GUID did not
    matched, plan = run([ann], [row("ann.smith@contoso.com", target_id="7")], before)
    assert plan.changes == ()
    assert [(r.before, r.key, r.how) for r in plan.renamed] == [
        ("ann.smith@contoso.com", "ann.jones@contoso.com", "same immutable id guid-ann")
    ]
    assert matched.rekey == {"ann.smith@contoso.com": "ann.jones@contoso.com"}
    assert matched.owned[ann.key].target_id == "7"


def test_a_rename_seen_by_7pace_first_keeps_ownership_by_the_7pace_id() -> None:
    # an old ledger entry without the person's id, but with the seat's 7pace id; 7pace shows the new address
    before = {EmailKey("ann.smith@contoso.com"): owned("7")}
    ann = person("ann.jones@contoso.com", guid="guid-ann")
    matched, plan = run([ann], [row("ann.jones@contoso.com", target_id="7", role="Administrator")], before)
    assert [(r.before, r.how) for r in plan.renamed] == [("ann.smith@contoso.com", "same 7pace user 7")]
    # still owned: the downgrade to the rule's role is syncd's to make
    assert [(c.action, c.after, c.person_id) for c in plan.changes] == [(Action.CHANGE, "Team", "guid-ann")]
    assert matched.refresh[ann.key].person_id == "guid-ann"


def test_a_renamed_person_who_left_the_group_loses_the_seat_under_its_old_name() -> None:
    before = {EmailKey("ann.smith@contoso.com"): owned("7", "guid-ann")}
    _, plan = run([], [row("ann.smith@contoso.com", target_id="7")], before)
    assert [(c.action, c.email) for c in plan.changes] == [(Action.UNASSIGN, "ann.smith@contoso.com")]
    assert plan.renamed == ()


def test_rename_and_a_second_row_under_the_new_name_is_ambiguous_not_two_seats() -> None:
    before = {EmailKey("ann.smith@contoso.com"): owned("7", "guid-ann")}
    ann = person("ann.jones@contoso.com", guid="guid-ann")
    rows = [row("ann.smith@contoso.com", target_id="7"), row("ann.jones@contoso.com", target_id="8")]
    _, plan = run([ann], rows, before)
    assert plan.changes == ()
    assert plan.ambiguous[0].rows == ("ann.jones@contoso.com (id 8)", "ann.smith@contoso.com (id 7)")


def test_match_order_decides_what_a_new_seat_is_written_as() -> None:
    ann = person("ann.lee@contoso.com", upn="alee@contoso.onmicrosoft.com")
    _, plan = run([ann], [], identity=IdentitySettings(match=("upn", "mail")))
    assert [(c.action, c.email, c.key) for c in plan.changes] == [
        (Action.ASSIGN, "alee@contoso.onmicrosoft.com", "ann.lee@contoso.com")
    ]
    assert "written:alee@contoso.onmicrosoft.com" in plan.changes[0].identifiers
    _, default = run([ann], [])
    assert default.changes[0].email == "ann.lee@contoso.com"


def test_identifier_normalisation() -> None:
    assert normalise_identifier("SMTP:Ann@Contoso.COM") == "ann@contoso.com"
    assert (
        normalise_identifier("{6F9619FF-8B86-D011-B42D-00C04FC964FF}")
        == "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    )
    assert normalise_identifier("CORP\\ALee") == "corp\\alee"
    assert normalise_identifier("ann_partner.com#EXT#@contoso.onmicrosoft.com") == (
        "ann_partner.com#ext#@contoso.onmicrosoft.com"
    )
    assert normalise_identifier("two words") is None
    assert normalise_identifier("") is None
    aliases = DomainAliases({"Contoso.onmicrosoft.com": "contoso.com", "CORP": "corp.contoso.com"})
    assert aliases.canonical("ann@contoso.onmicrosoft.com") == "ann@contoso.com"
    assert aliases.canonical("corp\\alee") == "alee@corp.contoso.com"
    assert aliases.canonical("ann@elsewhere.com") == "ann@elsewhere.com"


def test_an_older_ledger_entry_for_the_same_person_is_dropped_not_moved_onto_the_newer_one() -> None:
    before = {
        EmailKey("ann.smith@contoso.com"): owned("", "guid-ann"),  # recorded before the rename
        EmailKey("ann.jones@contoso.com"): owned("7", "guid-ann"),
    }
    ann = person("ann.jones@contoso.com", guid="guid-ann")
    matched, plan = run([ann], [row("ann.jones@contoso.com", target_id="7")], before)
    assert plan.changes == () and plan.renamed == ()
    assert matched.rekey == {} and matched.dropped == {"ann.smith@contoso.com"}
    assert matched.owned[ann.key].target_id == "7"


def test_two_people_swapping_addresses_keep_their_own_seats() -> None:
    before = {
        EmailKey("a@contoso.com"): owned("7", "guid-ann"),
        EmailKey("b@contoso.com"): owned("8", "guid-bob"),
    }
    ann = person("b@contoso.com", guid="guid-ann")  # ann now has b@, bob has a@
    bob = person("a@contoso.com", guid="guid-bob")
    rows = [row("a@contoso.com", target_id="7"), row("b@contoso.com", target_id="8")]
    matched, plan = run([ann, bob], rows, before)
    # the rows still carry the old addresses: each person is linked to their own seat by the ledger and to
    # the other's by address, so nothing is touched and both are listed
    assert plan.changes == ()
    assert len(plan.ambiguous) == 1 and plan.ambiguous[0].seats == 2
    assert matched.rekey == {} and matched.dropped == frozenset()
    # once 7pace shows the new addresses too, the seats follow by their 7pace ids
    rows = [row("b@contoso.com", target_id="7"), row("a@contoso.com", target_id="8")]
    matched, plan = run([ann, bob], rows, before)
    assert plan.changes == () and plan.ambiguous == ()
    assert matched.rekey == {"a@contoso.com": "b@contoso.com", "b@contoso.com": "a@contoso.com"}
    assert matched.owned[ann.key].person_id == "guid-ann" and matched.owned[ann.key].target_id == "7"


def test_a_row_matches_by_vsts_id_when_a_source_knows_it() -> None:
    ann = person("ann@contoso.com", others=("b17afa0a-6803-47ab-a11b-61051f33fd00",))
    seat = LicensedUser(
        EmailKey("7pace\\ann"),
        "7PACE\\ann",
        "Team",
        "9",
        "",
        "7PACE\\ann",
        "{B17AFA0A-6803-47AB-A11B-61051F33FD00}",
    )
    matched, plan = run([ann], [seat])
    assert plan.changes == ()
    assert matched.how[ann.key].startswith("b17afa0a-6803-47ab-a11b-61051f33fd00 = 7pace 7PACE\\ann (id 9)")


def test_match_order_never_writes_a_domain_user_name_for_a_new_seat() -> None:
    ann = person("ann.lee@contoso.com", upn="CORP\\alee")  # Azure DevOps Server's principal name
    _, plan = run([ann], [], identity=IdentitySettings(match=("upn", "mail")))
    assert [c.email for c in plan.changes] == ["ann.lee@contoso.com"]


def _reference_identifier(raw: str) -> str | None:
    """The general (Unicode) rules of `normalise_identifier`, for comparison with its ASCII fast path."""
    import re
    import unicodedata

    from syncd.identity import normalise_email

    key = normalise_email(raw)
    if key is not None:
        return key
    text = unicodedata.normalize("NFC", raw).strip().casefold()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return text if re.fullmatch(r"[^\s\x00-\x1f\x7f-\x9f]+", text) else None


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=30))
def test_the_ascii_fast_path_folds_identifiers_as_the_general_rules_do(raw: str) -> None:
    if raw.strip().lower().startswith("smtp:"):
        return  # "smtp:" + a non-address is no identifier anyone has; the fast path drops the prefix anyway
    assert normalise_identifier(raw) == _reference_identifier(raw)
