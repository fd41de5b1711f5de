"""The 7pace Timetracker target against the emulator (and a few hand-made servers), over real HTTP."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from syncd.emulators.faults import Fault, Faults
from syncd.emulators.http_server import EmulatorServer, Request, Response
from syncd.emulators.timetracker import Contract, EmulatedUser
from syncd.errors import TargetAuthFailed, TargetProtocolError, TargetUnreachable
from syncd.http import HttpOptions
from syncd.models import Action, Outcome
from syncd.target_read import ReadHealth, TargetReadRefused
from syncd.targets.timetracker import TimetrackerTarget

from .conftest import TOKEN, apply_in_cycle_batches, change, users

QUOTA_OFF: dict[str, Any] = {"quota_per_second": None, "quota_per_minute": None}
CLIENT_QUOTA_OFF: dict[str, Any] = {"requests_per_second": 0, "requests_per_minute": 0}


def outcomes(results) -> list[tuple[str, Outcome, str]]:
    return [(r.change.email, r.outcome, r.error) for r in results]


# -- reading -----------------------------------------------------------------------------------------------
def test_1234_licensed_users_across_pages(emulator_factory, target_factory) -> None:
    people = [*users(1234, "Team"), *users(300, "None", start=1234)]
    people[7] = EmulatedUser(people[7].email, "Administrator", "Seven")
    emulator = emulator_factory(people, **QUOTA_OFF)
    target = target_factory(emulator.base_url)
    licensed = list(target.licensed())
    assert len(licensed) == 1234
    assert {u.email for u in licensed} == {f"user{i:06d}@contoso.example" for i in range(1234)}
    assert licensed[7].role == "Administrator"
    assert licensed[7].display_name == "Seven"
    assert len(licensed[7].target_id) == 36  # the 7pace user id, GUID-shaped
    # a short page is not the end: the read ends at an empty page (one extra GET)
    assert [(r.kind, r.entries) for r in emulator.requests] == [
        ("GET users/roles", 500),
        ("GET users/roles", 500),
        ("GET users/roles", 234),
        ("GET users/roles", 0),
    ]
    assert target.request_counts() == {"GET users/roles": 4, "throttled": 0, "retries": 0}
    assert target.last_read is not None
    assert (target.last_read.pages, len(target.last_read.licensed), target.last_read.roles) == (
        4,
        1234,
        {"Team": 1233, "Administrator": 1},
    )


def test_a_full_last_page_needs_one_empty_page_to_end(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(1000), **QUOTA_OFF)
    assert len(list(target_factory(emulator.base_url).licensed())) == 1000
    assert [r.entries for r in emulator.requests] == [500, 500, 0]


@pytest.mark.parametrize(
    "contract",
    [
        Contract(row_shape="nested"),
        Contract(role_format="name"),
        Contract(row_shape="nested", role_format="name"),
    ],
)
def test_row_shapes_the_docs_leave_open_read_the_same(emulator_factory, target_factory, contract) -> None:
    emulator = emulator_factory([*users(3), *users(2, "None", start=3)], contract=contract, **QUOTA_OFF)
    licensed = list(target_factory(emulator.base_url).licensed())
    assert [(u.email, u.role) for u in licensed] == [
        ("user000000@contoso.example", "Team"),
        ("user000001@contoso.example", "Team"),
        ("user000002@contoso.example", "Team"),
    ]


def test_onprem_url_form(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(3), **QUOTA_OFF)
    target = target_factory(emulator.onprem_url("DefaultCollection"), api_version="3.0-preview")
    assert len(list(target.licensed())) == 3
    target.apply([change("user000000@contoso.example", "Budget", "Team")])
    assert [r.path for r in emulator.requests] == [
        "/api/DefaultCollection/rest/users/roles",
        "/api/DefaultCollection/rest/users/roles",
        "/api/DefaultCollection/rest/users/roles",
    ]
    assert emulator.roles_by_email()["user000000@contoso.example"] == "Budget"


def serve(rows: list[Any]) -> EmulatorServer:
    def handle(request: Request) -> Response:
        skip = int(request.param("$skip") or 0)
        return Response.json(200, {"data": rows[skip : skip + int(request.param("$count") or 500)]})

    return EmulatorServer(handle).start()


def test_rows_without_a_role_stop_the_read(target_factory) -> None:
    server = serve([{"email": "a@contoso.example", "role": {"name": "Team"}}, {"email": "b@contoso.example"}])
    try:
        with pytest.raises(TargetReadRefused) as caught:
            list(target_factory(server.base_url).licensed())
    finally:
        server.stop()
    assert caught.value.health is ReadHealth.INCONSISTENT
    assert str(caught.value) == (
        f"target read inconsistent: 7pace Timetracker at {server.base_url} returned row 1 without a role "
        "name, so its seat cannot be told; check [target] api_version (syncd reads the users/roles rows of "
        "api-version 3.x); every seat in a plan would be a guess, so nothing is written this run"
    )


def test_rows_without_an_email_are_keyed_by_unique_name_and_rows_without_any_name_are_counted(
    target_factory,
) -> None:
    # issue 16: an on-prem DOMAIN\\user unique name is an identifier syncd can match to a person
    rows = [
        {"email": "", "uniqueName": "CORP\\ann", "id": "7", "vstsId": "V7", "role": {"name": "Team"}},
        {"email": None, "uniqueName": "bob@contoso.example", "role": {"name": "Team"}},
        {"email": "CAROL@contoso.example", "role": {"name": "Budget"}},
        {"email": "carol@contoso.example", "role": {"name": "Team"}},
        {"email": "", "uniqueName": "", "role": {"name": "Team"}},
    ]
    server = serve(rows)
    try:
        target = target_factory(server.base_url)
        licensed = list(target.licensed())
    finally:
        server.stop()
    # issue 14 × 16: CORP\\ann is a seat keyed by its unique name (matching may give it to a person through
    # [identity] domain_aliases; the cycle lists it as unmatched when nobody matches it)
    assert [(u.key, u.email, u.role, u.unique_name, u.vsts_id) for u in licensed] == [
        ("corp\\ann", "CORP\\ann", "Team", "CORP\\ann", "V7"),
        ("bob@contoso.example", "bob@contoso.example", "Team", "bob@contoso.example", ""),
    ]
    read = target.last_read
    assert read is not None
    # a row with no name at all holds a seat nobody can be matched to: counted, listed, never guessed
    assert read.unmatched_lines() == ("? (Team)",)
    # carol twice with nothing to tell the rows apart but different roles: ambiguous, both rows are seats
    assert [(a.key, [u.role for u in a.rows]) for a in read.ambiguous] == [
        ("carol@contoso.example", ["Budget", "Team"])
    ]
    assert read.seats == 5


def test_a_server_that_ignores_skip_is_refused_not_a_loop(target_factory) -> None:
    page = [{"email": f"u{i}@contoso.example", "role": {"name": "Team"}} for i in range(2)]
    server = EmulatorServer(lambda request: Response.json(200, {"data": page})).start()
    try:
        with pytest.raises(
            TargetReadRefused, match=r"answered \$skip=2 with the first users again: it ignores \$skip"
        ) as caught:
            list(target_factory(server.base_url, page_size=2).licensed())
    finally:
        server.stop()
    assert caught.value.health is ReadHealth.PARTIAL


# -- writing -----------------------------------------------------------------------------------------------
def test_batches_are_split_and_sent_one_post_each(emulator_factory, target_factory) -> None:
    # the cycle slices (batch_size); the target sends each batch it is given as one POST
    emulator = emulator_factory(users(250, "None"), **QUOTA_OFF)
    target = target_factory(emulator.base_url, batch_size=100)
    changes = [change(f"user{i:06d}@contoso.example", "Team") for i in range(250)]
    results = apply_in_cycle_batches(target, changes)
    assert [r.change for r in results] == changes
    assert {r.outcome for r in results} == {Outcome.SUCCESS}
    assert [(r.kind, r.entries) for r in emulator.requests] == [
        ("POST users/roles", 100),
        ("POST users/roles", 100),
        ("POST users/roles", 50),
    ]
    assert len(emulator.roles_by_email()) == 250


def test_partial_failed_entries_fail_exactly_those_people(emulator_factory, target_factory) -> None:
    emulator = emulator_factory([*users(3, "Team"), *users(3, "None", start=3)], assignable=4, **QUOTA_OFF)
    target = target_factory(emulator.base_url)
    results = target.apply(
        [
            change("user000003@contoso.example", "Team"),  # the 4th seat: fits
            change("ghost@contoso.example", "Team"),  # not in the organisation
            change("user000004@contoso.example", "Team"),  # over the cap
            change("user000000@contoso.example", "Boss", "Team"),  # no such role
            change("User000001@Contoso.example", "Budget", "Team"),
        ]
    )
    assert outcomes(results) == [
        ("user000003@contoso.example", Outcome.SUCCESS, ""),
        (
            "ghost@contoso.example",
            Outcome.FAILURE,
            "User with email 'ghost@contoso.example' is not found in the organization",
        ),
        (
            "user000004@contoso.example",
            Outcome.FAILURE,
            "No free licenses: all 4 assignable users are in use",
        ),
        ("user000000@contoso.example", Outcome.FAILURE, "Role 'Boss' does not exist"),
        ("User000001@Contoso.example", Outcome.SUCCESS, ""),
    ]
    assert emulator.count("POST users/roles") == 1


@pytest.mark.parametrize("order", ["given", "assignments-first"])
def test_unassignments_go_first_so_a_full_subscription_can_swap_seats(
    emulator_factory, target_factory, order
) -> None:
    # the plan lists unassignments first and the cycle sends them in batches of their own, so the unassignment
    # is a POST of its own and the swap works whatever order a server applies entries in
    emulator = emulator_factory(
        [*users(2, "Team"), *users(1, "None", start=2)],
        assignable=2,
        contract=Contract(entry_order=order),
        **QUOTA_OFF,
    )
    results = apply_in_cycle_batches(
        target_factory(emulator.base_url),
        [change("user000000@contoso.example", "None", "Team"), change("user000002@contoso.example", "Team")],
    )
    assert [r.outcome for r in results] == [Outcome.SUCCESS, Outcome.SUCCESS]
    assert emulator.roles_by_email() == {
        "user000001@contoso.example": "Team",
        "user000002@contoso.example": "Team",
    }


def test_a_whole_batch_refused_fails_every_change_with_the_reason(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(2, "None"), contract=Contract(max_batch=1), **QUOTA_OFF)
    results = target_factory(emulator.base_url).apply(
        [change("user000000@contoso.example", "Team"), change("user000001@contoso.example", "Team")]
    )
    reason = "refused (HTTP 413): Request can not contains more than 1 items.; lower [target] batch_size"
    assert outcomes(results) == [
        ("user000000@contoso.example", Outcome.FAILURE, reason),
        ("user000001@contoso.example", Outcome.FAILURE, reason),
    ]


def test_unmatched_failed_entries_leave_the_batch_unknown(target_factory) -> None:
    def handle(request: Request) -> Response:
        failed = [{"entity": {"id": "x"}, "error": {"message": "nope"}}]
        return Response.json(200, {"data": {"succeeded": 1, "failed": 1, "failedEntries": failed}})

    server = EmulatorServer(handle).start()
    try:
        results = target_factory(server.base_url).apply(
            [change("a@contoso.example", "Team"), change("b@contoso.example", "Team")]
        )
    finally:
        server.stop()
    assert [(r.outcome, r.error) for r in results] == [
        (Outcome.UNKNOWN, "1 failed entries could not be matched to people; verify will tell"),
    ] * 2


def test_verify_reports_what_did_not_take_with_one_full_read(emulator_factory, target_factory) -> None:
    # the cycle's verify (the only one) re-reads the target once: that read shows, per change, whether it took
    emulator = emulator_factory([*users(600, "Team"), *users(3, "None", start=600)], **QUOTA_OFF)
    target = target_factory(emulator.base_url)
    changes = [
        change("user000600@contoso.example", "Team"),
        change("user000601@contoso.example", "Budget"),
        change("user000000@contoso.example", "None", "Team"),
        change("user000001@contoso.example", "product", "Team"),
    ]
    assert {r.outcome for r in target.apply(changes)} == {Outcome.SUCCESS}
    emulator.set_role("user000601@contoso.example", "None")  # another admin undoes one
    emulator.set_role("user000000@contoso.example", "Team")  # and restores another
    emulator.clear_log()
    shown = target.read().licensed
    now = {c.email: shown[c.key].role if c.key in shown else "None" for c in changes}
    assert [(c.email, now[c.email].casefold() == c.after.casefold(), now[c.email]) for c in changes] == [
        ("user000600@contoso.example", True, "Team"),
        ("user000601@contoso.example", False, "None"),
        ("user000000@contoso.example", False, "Team"),
        ("user000001@contoso.example", True, now["user000001@contoso.example"]),
    ]
    assert [r.kind for r in emulator.requests] == ["GET users/roles"] * 3


# -- quota ------------------------------------------------------------------------------------------------
def test_a_429_burst_from_a_stricter_quota_loses_nothing_and_is_not_repeated(
    emulator_factory, target_factory
) -> None:
    # 7pace enforces 5/s here while the target was told 10/s: the first 429 teaches it the real quota
    emulator = emulator_factory(users(24, "None"), quota_per_second=5, quota_per_minute=100)
    target = target_factory(emulator.base_url, batch_size=1)
    changes = [change(f"user{i:06d}@contoso.example", "Team") for i in range(24)]
    results = apply_in_cycle_batches(target, changes)
    assert {r.outcome for r in results} == {Outcome.SUCCESS}
    assert len(emulator.roles_by_email()) == 24
    log = emulator.requests
    statuses = [r.status for r in log]
    assert statuses.count(429) == 1
    first = statuses.index(429)
    retry_after = 1.0
    assert log[first + 1].at - log[first].at >= retry_after
    after = [r.at for r in log[first + 1 :]]
    assert all(after[i + 5] - after[i] >= 1.0 for i in range(len(after) - 5))  # never over 5 in any second
    assert target.request_counts() == {"POST users/roles": 25, "throttled": 1, "retries": 1}


def test_injected_429s_are_waited_out_for_their_retry_after(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(
        users(800), faults=Faults(script={2: Fault.THROTTLE, 3: Fault.THROTTLE}, retry_after=1), **QUOTA_OFF
    )
    target = target_factory(emulator.base_url, **CLIENT_QUOTA_OFF)
    assert len(list(target.licensed())) == 800
    log = emulator.requests
    assert [(r.status, r.entries) for r in log] == [(200, 500), (429, 0), (429, 0), (200, 300), (200, 0)]
    assert log[2].at - log[1].at >= 1.0
    assert log[3].at - log[2].at >= 1.0
    assert target.stats.throttled == 2


def test_the_client_limiter_keeps_under_the_documented_quota(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(30, "None"), quota_per_second=10, quota_per_minute=100)
    target = target_factory(emulator.base_url, batch_size=1)
    apply_in_cycle_batches(target, [change(f"user{i:06d}@contoso.example", "Team") for i in range(30)])
    assert emulator.count(status=429) == 0
    assert emulator.count("POST users/roles", status=200) == 30


# -- failures ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [("wrong", 401, "Unauthorized"), ("reader", 403, "Access denied. Not enough rights")],
)
def test_refused_credentials_are_one_line_naming_url_and_key(
    emulator_factory, target_factory, monkeypatch, token, status, reason
) -> None:
    emulator = emulator_factory(users(1), non_admin_tokens=["reader"], token="the-real-one", **QUOTA_OFF)
    monkeypatch.setenv("SYNCD_TEST_TT_TOKEN", token)
    target = target_factory(emulator.base_url)
    with pytest.raises(TargetAuthFailed) as caught:
        list(target.licensed())
    message = str(caught.value)
    assert message == (
        f"reading licensed users (GET users/roles, $skip=0): 7pace Timetracker at {emulator.base_url} refused the "
        f"credentials (HTTP {status}: {reason}); check syncd.toml: target.token: it must name a valid, unexpired "
        "Timetracker API token (Timetracker Settings > Reporting & API) of a Timetracker Administrator"
    )
    assert "\n" not in message
    assert token not in message.replace("token", "")
    assert emulator.count() == 1  # no retries of a refusal


def test_token_never_appears_in_any_message(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(1), token="other", **QUOTA_OFF)
    with pytest.raises(TargetAuthFailed) as caught:
        target_factory(emulator.base_url).apply([change("user000000@contoso.example", "Budget")])
    assert TOKEN not in str(caught.value)


def test_an_html_page_instead_of_json_is_an_auth_failure(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(1), faults=Faults(script={1: Fault.HTML}), **QUOTA_OFF)
    with pytest.raises(TargetAuthFailed, match="answered with an HTML page instead of JSON"):
        list(target_factory(emulator.base_url).licensed())


def test_resets_5xx_and_malformed_json_are_retried(emulator_factory, target_factory) -> None:
    faults = Faults(script={1: Fault.RESET, 3: Fault.ERROR, 5: Fault.MALFORMED, 8: Fault.RESET_AFTER})
    emulator = emulator_factory(users(1200, "Team"), faults=faults, **QUOTA_OFF)
    target = target_factory(emulator.base_url)
    assert len(list(target.licensed())) == 1200
    results = target.apply([change("user000000@contoso.example", "Budget", "Team")])
    assert [r.outcome for r in results] == [Outcome.SUCCESS]
    assert [(r.kind, r.status, r.fault) for r in emulator.requests] == [
        ("GET users/roles", 0, "reset"),
        ("GET users/roles", 200, ""),
        ("GET users/roles", 503, "error"),
        ("GET users/roles", 200, ""),
        ("GET users/roles", 200, "malformed"),
        ("GET users/roles", 200, ""),
        ("GET users/roles", 200, ""),  # the empty page that ends the read
        ("POST users/roles", 0, "reset_after"),  # applied, answer lost
        ("POST users/roles", 200, ""),  # the idempotent retry
    ]
    assert target.request_counts() == {
        "GET users/roles": 7,
        "POST users/roles": 2,
        "throttled": 0,
        "retries": 4,
    }
    assert emulator.roles_by_email()["user000000@contoso.example"] == "Budget"


def test_a_post_whose_answer_never_comes_is_unknown_and_stops_further_writes(
    emulator_factory, target_factory
) -> None:
    faults = Faults(fail_after=0, outage=Fault.RESET_AFTER, methods=frozenset({"POST"}))
    emulator = emulator_factory(users(3, "None"), faults=faults, **QUOTA_OFF)
    target = target_factory(emulator.base_url, batch_size=2, http=HttpOptions(timeout=5, max_attempts=2))
    changes = [change(f"user{i:06d}@contoso.example", "Team") for i in range(3)]
    results = target.apply(changes[:2])  # the cycle's first batch of 2
    assert [r.outcome for r in results] == [Outcome.UNKNOWN, Outcome.UNKNOWN]
    assert results[0].error.startswith(
        "the answer was lost: setting roles (POST users/roles, 2 entries): 7pace"
    )
    assert emulator.count("POST users/roles") == 2
    with pytest.raises(  # its next batch is not sent
        TargetUnreachable, match=r"^not sent: an earlier batch lost the connection \(setting roles"
    ):
        target.apply(changes[2:])
    assert emulator.count("POST users/roles") == 2
    with pytest.raises(
        TargetUnreachable, match=r"^not sent: an earlier batch lost the connection \(setting roles"
    ):
        target.apply([change("user000002@contoso.example", "Team")])
    assert emulator.count("POST users/roles") == 2
    assert emulator.roles_by_email() == {
        "user000000@contoso.example": "Team",
        "user000001@contoso.example": "Team",
    }


def test_nobody_listening_is_target_unreachable(target_factory) -> None:
    server = EmulatorServer(lambda request: Response.json(200, {})).start()
    url = server.base_url
    server.stop()
    target = target_factory(url, http=HttpOptions(timeout=2, max_attempts=1))
    with pytest.raises(TargetUnreachable) as caught:
        list(target.licensed())
    assert str(caught.value).startswith(  # the cause first, then where (issue 15)
        f"connection refused: reading licensed users (GET users/roles, $skip=0): 7pace Timetracker at {url}: "
        "nothing listens on that host and port"
    )


def test_https_with_the_configured_ca_bundle(emulator_factory, target_factory, tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    emulator = emulator_factory(users(2), ssl_context=context, **QUOTA_OFF)
    assert emulator.base_url.startswith("https://")
    target = target_factory(emulator.base_url, http=HttpOptions(ca_bundle=bundle, timeout=5))
    assert target.check() == f"7pace Timetracker at {emulator.base_url}: token accepted (api-version 3.2)"
    untrusted = target_factory(emulator.base_url, http=HttpOptions(timeout=5, max_attempts=1))
    with pytest.raises(TargetUnreachable, match="set ca_bundle to the PEM file of the CA"):
        untrusted.check()


def test_an_unsupported_api_version_names_the_problem(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(1), **QUOTA_OFF)
    with pytest.raises(TargetProtocolError) as caught:
        target_factory(emulator.base_url, api_version="2.0").check()
    assert str(caught.value) == (
        f"checking access (GET users/roles): 7pace Timetracker at {emulator.base_url} answered HTTP 400: "
        "The requested api-version '2.0' is not supported"
    )


def test_protocol_surface(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(1), **QUOTA_OFF)
    target: TimetrackerTarget = target_factory(emulator.base_url, batch_size=42)
    assert (target.name, target.batch_size, target.seats(), target.roles()) == ("timetracker", 42, None, None)
    assert target.apply([]) == []
    assert Action.ASSIGN  # the change helper's actions come from syncd.models
