"""The target read (issue 14): complete paging whatever the page size, its guards, the read's health, and the
rows it yields; writes by id in the server's role spelling; a batch refused whole is re-read."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from syncd.emulators.http_server import EmulatorServer, Request, Response
from syncd.emulators.timetracker import Contract, EmulatedUser
from syncd.identity import EmailKey
from syncd.models import LicensedUser, Outcome
from syncd.target_read import ReadHealth, TargetReadRefused, UnmatchedSeat, judge

from .conftest import apply_in_cycle_batches, change, users

QUOTA_OFF: dict[str, Any] = {"quota_per_second": None, "quota_per_minute": None}


def seat(email: str, role: str = "Team", target_id: str = "", unique: str = "") -> LicensedUser:
    return LicensedUser(EmailKey(email.casefold()), email, role, target_id, "", unique)


# -- judge: plain data ---------------------------------------------------------------------------------------
def test_one_email_on_two_ids_is_ambiguous_and_both_rows_are_seats() -> None:
    read = judge(
        [
            seat("ann@x.example", "Team", "id-1"),
            seat("bob@x.example"),
            seat("ANN@x.example", "Budget", "id-2"),
        ],
        [UnmatchedSeat("CORP\\svc", "Team", "id-9")],
        "7pace",
    )
    assert list(read.licensed) == ["bob@x.example"]
    assert [(a.key, [u.target_id for u in a.rows]) for a in read.ambiguous] == [
        ("ann@x.example", ["id-1", "id-2"])
    ]
    assert read.seats == 4  # bob, both of ann's rows, the unmatched row
    assert read.unmatched_lines() == ("CORP\\svc (Team)",)
    assert read.roles == {"Team": 3, "Budget": 1}


@pytest.mark.parametrize(
    ("rows", "health", "text"),
    [
        (
            [seat("ann@x.example", "Team", "id-1"), seat("ann@x.example", "Budget", "id-1")],
            ReadHealth.INCONSISTENT,
            "returned user id id-1 twice with different roles (Team, Budget)",
        ),
        (
            [seat("ann@x.example", "Team", "id-1"), seat("bob@x.example", "Team", "ID-1")],
            ReadHealth.INCONSISTENT,
            "returned user id ID-1 twice with different e-mails (ann@x.example, bob@x.example)",
        ),
        (
            [seat("ann@x.example", "Team", "id-1"), seat("ann@x.example", "team", "id-1")],
            ReadHealth.PARTIAL,
            "returned user id id-1 (ann@x.example) twice (rows repeated",
        ),
        (
            [seat("ann@x.example"), seat("ann@x.example")],
            ReadHealth.PARTIAL,
            "returned ann@x.example 2 times with nothing to tell the rows apart",
        ),
    ],
)
def test_reads_that_are_not_complete_are_refused(rows, health, text) -> None:
    with pytest.raises(TargetReadRefused) as caught:
        judge(rows, [], "7pace at X")
    assert caught.value.health is health
    assert str(caught.value).startswith(f"target read {health.value}: 7pace at X {text}")
    assert str(caught.value).endswith("so nothing is written this run")


# -- paging against the emulator ------------------------------------------------------------------------------
@pytest.mark.parametrize("cap", [100, 137, 500])
def test_a_1000_seat_organization_is_read_completely_whatever_the_page_size(
    emulator_factory, target_factory, cap
) -> None:
    emulator = emulator_factory(
        [*users(1000, "Team"), *users(50, "None", start=1000)], contract=Contract(page_cap=cap), **QUOTA_OFF
    )
    target = target_factory(emulator.base_url)
    read = target.read()
    assert len(read.licensed) == 1000
    # at most one extra GET per read: the empty page that ends it
    assert emulator.count("GET users/roles") == math.ceil(1000 / cap) + 1
    assert read.largest_page == cap
    if cap < 500:
        assert read.notes == (
            f"the server pages by {cap} rows although $count=500 was asked (read until an empty page)",
        )


def test_a_server_that_ignores_count_is_noted_and_read_correctly(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(1200), contract=Contract(count_honoured=False), **QUOTA_OFF)
    read = target_factory(emulator.base_url, page_size=100).read()
    assert len(read.licensed) == 1200
    assert [r.entries for r in emulator.requests] == [500, 500, 200, 0]
    assert read.notes[0].startswith("the server ignores $count: it answered 500 rows for $count=100")


def test_a_server_that_ignores_skip_stops_at_the_second_page(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(300), contract=Contract(page_cap=100, skip_honoured=False), **QUOTA_OFF)
    with pytest.raises(TargetReadRefused, match=r"answered \$skip=100 with the first users again") as caught:
        target_factory(emulator.base_url).read()
    assert caught.value.health is ReadHealth.PARTIAL
    assert emulator.count("GET users/roles") == 2


def test_dollar_names_are_sent_literally_so_a_server_blind_to_percent_24_still_pages(
    emulator_factory, target_factory
) -> None:
    emulator = emulator_factory(users(700), contract=Contract(percent_encoded_names=False), **QUOTA_OFF)
    assert len(target_factory(emulator.base_url).read().licensed) == 700
    assert [r.entries for r in emulator.requests] == [500, 200, 0]


def test_a_list_that_never_ends_is_bounded(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(1000), contract=Contract(page_cap=100), **QUOTA_OFF)
    target = target_factory(emulator.base_url)
    target.max_pages = 5
    with pytest.raises(TargetReadRefused, match=r"still returned users after 5 pages \(\$skip=500\)"):
        target.read()
    assert emulator.count("GET users/roles") == 5


def test_rows_without_email_are_seats_keyed_by_their_domain_unique_names(
    emulator_factory, target_factory
) -> None:
    # issue 14 × 16: a DOMAIN\\user unique name is an identifier matching can give to a person (through
    # [identity] domain_aliases); the cycle lists the rows nobody matches as unmatched (tests/hardening
    # dialect matrix), so the read keys them instead of dropping their names
    contract = Contract(email_in_rows=False, unique_name_form="domain")
    emulator = emulator_factory(users(3, "Team"), contract=contract, **QUOTA_OFF)
    read = target_factory(emulator.base_url).read()
    assert sorted(read.licensed) == [f"contoso\\user00000{i}" for i in range(3)]
    assert read.seats == 3 and read.unmatched == ()
    assert all(u.target_id and u.unique_name.startswith("CONTOSO\\") for u in read.licensed.values())


def test_rows_carry_unique_name_and_vsts_id(emulator_factory, target_factory) -> None:
    person = EmulatedUser(
        "ann@contoso.example", "Team", "Ann", id="id-ann", vsts_id="vsts-ann", unique_name="ann@corp.example"
    )
    emulator = emulator_factory([person], **QUOTA_OFF)
    (user,) = target_factory(emulator.base_url).read().licensed.values()
    assert (user.target_id, user.unique_name, user.vsts_id) == ("id-ann", "ann@corp.example", "vsts-ann")


def test_the_organization_listing_and_its_absence(emulator_factory, target_factory) -> None:
    emulator = emulator_factory([*users(2, "Team"), *users(3, "None", start=2)], **QUOTA_OFF)
    organization = target_factory(emulator.base_url).organization()
    assert organization is not None
    assert sorted(organization.by_key) == [f"user{i:06d}@contoso.example" for i in range(5)]
    emulator.contract = Contract(users_listing=False)
    assert target_factory(emulator.base_url).organization() is None


# -- writing ----------------------------------------------------------------------------------------------------
class Recording:
    """A hand-made 7pace: rows with ids and lower-case role names; records POST bodies; `refuse` makes every
    POST apply its first entry and then answer 422 for the whole batch."""

    def __init__(self, refuse: bool = False) -> None:
        self.roles = {"ann@x.example": ("A", "team"), "bob@x.example": ("B", "budget")}
        self.posts: list[Any] = []
        self.refuse = refuse
        self.server = EmulatorServer(self.handle).start()

    def handle(self, request: Request) -> Response:
        if request.method == "POST":
            body = json.loads(request.body)
            self.posts.append(body["users"])
            first = body["users"][0]
            for email, (uid, _) in self.roles.items():
                if first.get("id") == uid:
                    self.roles[email] = (uid, first["role"]["name"])
            if self.refuse:
                return Response.json(422, {"error": {"message": "Validation error: one entry is wrong"}})
            return Response.json(
                200, {"data": {"succeeded": len(body["users"]), "failed": 0, "failedEntries": []}}
            )
        skip = int(request.param("$skip") or 0)
        rows = [
            {"id": uid, "email": email, "role": {"name": role}} for email, (uid, role) in self.roles.items()
        ]
        return Response.json(200, {"data": rows[skip:]})


def test_existing_people_are_written_by_id_in_the_servers_role_spelling(target_factory) -> None:
    seven = Recording()
    try:
        target = target_factory(seven.server.base_url)
        read = target.read()
        ann = read.licensed[EmailKey("ann@x.example")]
        results = apply_in_cycle_batches(
            target,
            [
                replace(change("bob@x.example", "None", "Budget"), target_id="B"),
                change("new@x.example", "Team"),
                replace(change("ann@x.example", "Budget", "Team"), target_id=ann.target_id),
            ],
        )
    finally:
        seven.server.stop()
    assert [r.outcome for r in results] == [Outcome.SUCCESS] * 3
    # the unassignment went in a POST of its own (the cycle's batch), first; ids for people 7pace has; its
    # own spelling
    assert seven.posts == [
        [{"id": "B", "role": {"name": "None"}}],
        [{"email": "new@x.example", "role": {"name": "team"}}, {"id": "A", "role": {"name": "budget"}}],
    ]


def test_a_batch_refused_whole_is_re_read_so_the_audit_says_what_happened(target_factory) -> None:
    seven = Recording(refuse=True)
    try:
        target = target_factory(seven.server.base_url)
        target.read()
        results = target.apply(
            [
                replace(change("ann@x.example", "Administrator", "Team"), target_id="A"),
                replace(change("bob@x.example", "Team", "Budget"), target_id="B"),
            ]
        )
    finally:
        seven.server.stop()
    assert [(r.outcome, r.error) for r in results] == [
        (Outcome.SUCCESS, ""),  # applied although the batch was refused: the re-read shows it
        # sent again alone, refused again: this server applies it all the same, and the second read says so
        (Outcome.SUCCESS, ""),
    ]
    assert seven.posts == [
        [{"id": "A", "role": {"name": "Administrator"}}, {"id": "B", "role": {"name": "team"}}],
        [{"id": "B", "role": {"name": "team"}}],
    ]


def test_one_bad_entry_in_a_batch_validated_whole_fails_alone(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(8, "None"), contract=Contract(batch_validation="whole"), **QUOTA_OFF)
    target = target_factory(emulator.base_url)
    changes = [change(f"user{i:06d}@contoso.example", "Team") for i in range(8)]
    changes.insert(5, change("ghost@contoso.example", "Team"))
    results = target.apply(changes)
    assert [r.change.email for r in results if r.outcome is not Outcome.SUCCESS] == ["ghost@contoso.example"]
    assert results[5].error.startswith(
        "refused (HTTP 422): Validation error: User with email 'ghost@contoso.example'"
    )
    assert len(emulator.roles_by_email()) == 8
    # 9 refused → halves of 5 (ok) and 4 (refused) → 2 (refused) and 2 (ok) → 1 (refused) and 1 (ok)
    assert emulator.count("POST users/roles") == 7
    assert (
        emulator.count("GET users/roles") == 3
    )  # the re-read (nobody licensed: one empty page), the check (2)
