"""The TrackingTime target against its emulator, over real HTTP: complete paging, seats as active users
(pending invitations included), invite / archive / re-open / role change, envelope errors, [U] switches."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.emulators.faults import Fault, Faults
from syncd.emulators.trackingtime import Contract, TtUser
from syncd.errors import TargetAuthFailed, TargetProtocolError, TargetUnreachable
from syncd.models import Outcome
from syncd.secrets import SecretRef

from .conftest import ACCOUNT, PASSWORD, change, people


def outcomes(results: Any) -> list[tuple[str, Outcome]]:
    return [(r.change.email, r.outcome) for r in results]


# -- reading -----------------------------------------------------------------------------------------------
def test_reads_every_page_until_an_empty_one(emulator_factory, target_factory) -> None:
    emulator = emulator_factory([*people(450), *people(30, start=450, archived=True)])
    target = target_factory(emulator, page_size=100)
    licensed = list(target.licensed())
    assert len(licensed) == 450  # archived users hold no seat
    assert {u.role for u in licensed} == {"CO_WORKER"}
    # 480 rows = 5 pages (the 5th short), then page 5 must come back empty: a short page is not trusted
    assert emulator.count("GET users") == 6
    assert target.last_read is not None and target.last_read.archived == 30


def test_a_short_page_is_not_trusted_to_be_the_last(emulator_factory, target_factory) -> None:
    """A server that answers fewer rows than page_size mid-list (a cap) must not end the read."""
    emulator = emulator_factory(people(250))
    target = target_factory(emulator, page_size=100)
    seen = len(list(target.licensed()))
    assert seen == 250
    assert [r.kind for r in emulator.requests].count("GET users") == 4  # 100, 100, 50, 0


def test_pending_invitations_hold_seats_and_are_named(emulator_factory, target_factory) -> None:
    emulator = emulator_factory([*people(3), TtUser("new@contoso.example", pending=True)])
    target = target_factory(emulator)
    licensed = {u.email: u.role for u in target.licensed()}
    assert "new@contoso.example" in licensed  # billed from the invite (pricing model)
    assert target.last_read is not None and target.last_read.pending == ["new@contoso.example"]
    assert "1 TrackingTime seat(s) are pending invitations" in target.notes()[0]


@pytest.mark.parametrize("pending_in", ["status", "teams"])
def test_pending_is_read_from_status_or_teams(emulator_factory, target_factory, pending_in) -> None:
    emulator = emulator_factory(
        [TtUser("p@contoso.example", pending=True)], contract=Contract(pending_in=pending_in)
    )
    target = target_factory(emulator)
    list(target.licensed())
    assert target.last_read is not None and target.last_read.pending == ["p@contoso.example"]


def test_a_page_that_repeats_users_stops_the_read(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(people(150), contract=Contract(paging="stuck"))
    target = target_factory(emulator, page_size=100)
    with pytest.raises(TargetProtocolError, match=r"returned user .* again"):
        list(target.licensed())


def test_an_unpaged_server_answers_the_whole_list_once(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(people(49), contract=Contract(paging="unpaged"))
    target = target_factory(emulator, page_size=100)
    assert len(list(target.licensed())) == 49
    assert target.last_read is not None and target.last_read.unpaged


def test_an_unpaged_full_page_is_refused(emulator_factory, target_factory) -> None:
    """Exactly page_size rows twice: a cap cannot be told from the whole list, so the read is refused."""
    emulator = emulator_factory(people(100), contract=Contract(paging="unpaged"))
    with pytest.raises(TargetProtocolError, match="again"):
        list(target_factory(emulator, page_size=100).licensed())


@pytest.mark.parametrize(
    "row",
    [
        {"id": 1, "email": "a@contoso.example", "role": "ADMIN"},  # no is_archived
        {"id": 1, "email": "a@contoso.example", "is_archived": False},  # no role
        {"email": "a@contoso.example", "is_archived": False, "role": "ADMIN"},  # no id
        "a@contoso.example",
    ],
)
def test_a_row_that_cannot_be_told_stops_the_read(row, target_factory, emulator_factory) -> None:
    from syncd.emulators.http_server import EmulatorServer, Response

    envelope = {"response": {"status": 200, "message": "ok"}, "data": [row]}
    with EmulatorServer(lambda request: Response.json(200, envelope)) as server:
        emulator = emulator_factory()
        target = target_factory(emulator, api_url=server.base_url + "/api/v4")
        with pytest.raises(TargetProtocolError, match="row 0"):
            list(target.licensed())


def test_an_envelope_error_on_http_200_stops_the_read(emulator_factory, target_factory) -> None:
    from syncd.emulators.http_server import EmulatorServer, Response

    envelope = {"response": {"status": 500, "message": "Ups"}, "data": {}}
    with EmulatorServer(lambda request: Response.json(200, envelope)) as server:
        target = target_factory(emulator_factory(), api_url=server.base_url + "/api/v4")
        with pytest.raises(TargetProtocolError, match="status 500: Ups"):
            list(target.licensed())


def test_wrong_password_is_an_auth_failure_without_the_secret(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(people(2), app_password="another")
    with pytest.raises(TargetAuthFailed) as raised:
        list(target_factory(emulator).licensed())
    assert "app password" in str(raised.value) and PASSWORD not in str(raised.value)


def test_a_non_admin_is_refused(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(people(2), app_password="admin-pw", non_admin_passwords=[PASSWORD])
    with pytest.raises(TargetAuthFailed, match="administrator"):
        list(target_factory(emulator).licensed())


def test_oauth_bearer_token(emulator_factory, target_factory, monkeypatch) -> None:
    monkeypatch.setenv("TT_BEARER", "oauth-token-1")
    emulator = emulator_factory(people(2), bearer_tokens=["oauth-token-1"])
    ref = SecretRef("env", "TT_BEARER", "syncd.toml: target.token")
    target = target_factory(emulator, app_password=None, token=ref)
    assert len(list(target.licensed())) == 2


def test_another_account_is_refused(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(people(2), account_id=ACCOUNT + 1)
    with pytest.raises(TargetAuthFailed):
        list(target_factory(emulator).licensed())


def test_envelope_429_is_waited_out(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(people(5), quota_per_second=1, contract=Contract(quota_rejection="envelope"))
    target = target_factory(emulator, page_size=2)
    assert len(list(target.licensed())) == 5
    assert target.request_counts()["throttled"] >= 1


def test_http_faults_on_a_read_are_retried(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(people(5), faults=Faults(script={2: Fault.RESET, 3: Fault.MALFORMED}))
    target = target_factory(emulator, page_size=2)
    assert len(list(target.licensed())) == 5


def test_a_dead_server_is_unreachable(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(people(5), faults=Faults(fail_after=1, outage=Fault.ERROR))
    with pytest.raises(TargetUnreachable):
        list(target_factory(emulator, page_size=2).licensed())


# -- writing -----------------------------------------------------------------------------------------------
def test_invite_archive_reopen_and_role_change(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(
        [
            TtUser("stay@contoso.example", "CO_WORKER"),
            TtUser("leave@contoso.example", "CO_WORKER"),
            TtUser("back@contoso.example", "PROJECT_MANAGER", archived=True),
            TtUser("up@contoso.example", "CO_WORKER"),
        ]
    )
    target = target_factory(emulator)
    list(target.licensed())
    batch = [
        change("new1@contoso.example", "CO_WORKER"),
        change("leave@contoso.example", "None", "CO_WORKER"),
        change("back@contoso.example", "CO_WORKER"),
        change("up@contoso.example", "ADMIN", "CO_WORKER"),
        change("new2@contoso.example", "CO_WORKER"),
    ]
    results = target.apply(batch)
    assert all(r.outcome is Outcome.SUCCESS for r in results), results
    assert [r.change.email for r in results] == [c.email for c in batch]  # in the order given
    assert emulator.user("leave@contoso.example").archived  # archived, not deleted
    back = emulator.user("back@contoso.example")
    assert (back.archived, back.role) == (False, "CO_WORKER")  # re-opened, not invited again
    assert emulator.user("up@contoso.example").role == "ADMIN"
    assert emulator.user("new1@contoso.example").pending
    assert emulator.count("POST users/invite") == 1  # both invitations of one role in one call
    assert emulator.count("PUT users/open") == 1 and emulator.count("PUT users/close") == 1
    # re-reading shows what was written
    assert {u.email: u.role for u in target.licensed()} == {
        "stay@contoso.example": "CO_WORKER",
        "back@contoso.example": "CO_WORKER",
        "up@contoso.example": "ADMIN",
        "new1@contoso.example": "CO_WORKER",
        "new2@contoso.example": "CO_WORKER",
    }


def test_invitations_go_20_per_call(emulator_factory, target_factory) -> None:
    emulator = emulator_factory()
    target = target_factory(emulator, batch_size=100)
    list(target.licensed())
    results = target.apply([change(f"n{i}@contoso.example", "CO_WORKER") for i in range(45)])
    assert {r.outcome for r in results} == {Outcome.SUCCESS}
    assert emulator.count("POST users/invite") == 3 and emulator.active == 45


def test_one_refused_address_does_not_sink_the_others(emulator_factory, target_factory) -> None:
    """Someone added the person by hand between read and write: the batch call is refused, each address is
    then tried alone; the duplicate shows as done on the read-back."""
    emulator = emulator_factory()
    target = target_factory(emulator)
    list(target.licensed())
    emulator.add_user(TtUser("b@contoso.example", pending=True))
    results = target.apply([change(e, "CO_WORKER") for e in ("a@contoso.example", "b@contoso.example")])
    assert outcomes(results) == [
        ("a@contoso.example", Outcome.SUCCESS),
        ("b@contoso.example", Outcome.SUCCESS),
    ]


def test_the_owner_cannot_be_archived(emulator_factory, target_factory) -> None:
    emulator = emulator_factory([TtUser("owner@contoso.example", "ADMIN", owner=True)])
    target = target_factory(emulator)
    list(target.licensed())
    [result] = target.apply([change("owner@contoso.example", "None", "ADMIN")])
    assert result.outcome is Outcome.FAILURE and "owner cannot be archived" in result.error
    assert not emulator.user("owner@contoso.example").archived


def test_a_pending_invitee_that_cannot_be_archived_fails_plainly(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(
        [TtUser("p@contoso.example", pending=True)], contract=Contract(archive_pending=False)
    )
    target = target_factory(emulator)
    list(target.licensed())
    [result] = target.apply([change("p@contoso.example", "None", "CO_WORKER")])
    assert result.outcome is Outcome.FAILURE and "invitation" in result.error


def test_a_close_that_does_not_take_is_caught_by_the_cycle_verify(emulator_factory, target_factory) -> None:
    """The server says ok but changes nothing: the target reports success (it cannot know); the read-back
    the cycle does after apply shows the seat still held."""
    emulator = emulator_factory([TtUser("x@contoso.example")], contract=Contract(ignore_closes=True))
    target = target_factory(emulator)
    list(target.licensed())
    target.apply([change("x@contoso.example", "None", "CO_WORKER")])
    assert {u.email for u in target.licensed()} == {"x@contoso.example"}


@pytest.mark.parametrize("pm_role", ["PROJECT_MANAGER", "MANAGER"])
def test_project_manager_literal_is_the_configured_one(emulator_factory, target_factory, pm_role) -> None:
    emulator = emulator_factory([TtUser("m@contoso.example")], contract=Contract(pm_role=pm_role))
    target = target_factory(emulator)
    list(target.licensed())
    [result] = target.apply([change("m@contoso.example", pm_role, "CO_WORKER")])
    assert result.outcome is Outcome.SUCCESS
    assert [u.role for u in target.licensed()] == [pm_role]


@pytest.mark.parametrize("errors", ["envelope", "http"])
def test_refusals_in_either_error_mode(emulator_factory, target_factory, errors) -> None:
    emulator = emulator_factory([TtUser("m@contoso.example")], contract=Contract(errors=errors))
    target = target_factory(emulator)
    list(target.licensed())
    [result] = target.apply([change("m@contoso.example", "GUEST", "CO_WORKER")])
    assert result.outcome is Outcome.FAILURE and "Invalid role" in result.error


def test_an_answer_lost_after_processing_is_unknown_and_stops_writes(
    emulator_factory, target_factory
) -> None:
    emulator = emulator_factory(people(3))
    target = target_factory(emulator)
    list(target.licensed())
    emulator.set_faults(Faults(fail_after=0, outage=Fault.RESET_AFTER, methods=frozenset({"PUT"})))
    results = target.apply([change(f"user{i:05d}@contoso.example", "None", "CO_WORKER") for i in range(3)])
    assert [r.outcome for r in results] == [Outcome.UNKNOWN, Outcome.FAILURE, Outcome.FAILURE]
    with pytest.raises(TargetUnreachable, match="not sent"):
        target.apply([change("user00000@contoso.example", "None", "CO_WORKER")])


def test_post_on_close_is_an_html_page_and_changes_nothing(emulator_factory) -> None:
    import requests

    emulator = emulator_factory([TtUser("x@contoso.example")])
    answer = requests.post(
        f"{emulator.api_url}/{ACCOUNT}/users/close/381456", auth=("API_TOKEN", PASSWORD), timeout=5
    )
    assert "html" in answer.headers["Content-Type"]
    assert not emulator.user("x@contoso.example").archived


def test_standalone_users_file(tmp_path) -> None:
    from syncd.emulators.trackingtime import load_users

    path = tmp_path / "users.csv"
    path.write_text("email,role,state\nboss@x.example,ADMIN,owner\nb@x.example,,archived\n", encoding="utf-8")
    assert load_users(path) == [
        TtUser("boss@x.example", "ADMIN", owner=True),
        TtUser("b@x.example", "CO_WORKER", archived=True),
    ]
    path.write_text("c@x.example,ADMIN,gone\n", encoding="utf-8")
    with pytest.raises(ValueError, match="state must be empty, archived, pending or owner"):
        load_users(path)


def _serving(rows: list[object]) -> Any:
    from syncd.emulators.http_server import EmulatorServer, Response

    pages = [rows, []]

    def answer(request: Any) -> Response:
        page = int(request.param("page", "0"))
        data = pages[page] if page < len(pages) else []
        return Response.json(200, {"response": {"status": 200, "message": "ok"}, "data": data})

    return EmulatorServer(answer)


def test_an_active_user_without_an_email_is_an_unmatched_seat(emulator_factory, target_factory) -> None:
    rows = [
        {"id": 1, "email": "a@contoso.example", "role": "ADMIN", "is_archived": False},
        {"id": 2, "email": "", "name": "Ghost", "role": "CO_WORKER", "is_archived": False},
        {"id": 3, "email": None, "role": "CO_WORKER", "is_archived": True},  # archived: no seat, ignored
    ]
    with _serving(rows) as server:
        target = target_factory(emulator_factory(), api_url=server.base_url + "/api/v4")
        read = target.read()
    assert list(read.licensed) == ["a@contoso.example"]
    assert read.unmatched_lines() == ("Ghost (CO_WORKER)",)
    assert read.seats == 2  # the unmatched seat is paid for too


def test_one_address_on_two_active_users_is_ambiguous(emulator_factory, target_factory) -> None:
    rows = [
        {"id": 1, "email": "a@contoso.example", "role": "ADMIN", "is_archived": False},
        {"id": 2, "email": "A@contoso.example", "role": "CO_WORKER", "is_archived": False},
        {"id": 3, "email": "b@contoso.example", "role": "CO_WORKER", "is_archived": True},
        {"id": 4, "email": "b@contoso.example", "role": "CO_WORKER", "is_archived": False},
    ]
    with _serving(rows) as server:
        read = target_factory(emulator_factory(), api_url=server.base_url + "/api/v4").read()
    assert [a.email for a in read.ambiguous] == ["a@contoso.example"]  # nothing is sent for them
    assert list(read.licensed) == ["b@contoso.example"]  # the active row of b wins over the archived one
    assert read.seats == 3
